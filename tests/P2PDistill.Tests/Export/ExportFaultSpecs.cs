using P2PDistill.Shared.Export;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.Export;

[Trait("Category", "Fault")]
public sealed class ExportFaultSpecs(TrainedExports exports) : IClassFixture<TrainedExports>, IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>A private copy of the tiny export (the fixture's files stay intact for the other tests).</summary>
    private string CopyOfTiny()
    {
        foreach (var path in exports.TinyExport.Paths) File.Copy(path, dir.Combine(Path.GetFileName(path)));
        return dir.Combine("tiny.json");
    }

    [Theory]
    [InlineData("tiny.dat", WeightsFormat.TorchSharp)]
    [InlineData("tiny.safetensors", WeightsFormat.TorchSharp)]
    [InlineData("tiny.dat", WeightsFormat.Safetensors)]
    public void Should_detect_a_tampered_weight_file_by_its_checksum_and_name_it(string file, WeightsFormat format)
    {
        var card = CopyOfTiny();
        var bytes = File.ReadAllBytes(dir.Combine(file));
        bytes[^3] ^= 0x01; // one bit of one weight
        File.WriteAllBytes(dir.Combine(file), bytes);

        var e = Assert.Throws<ModelExportException>(() => ExportedModel.Load(card, format));

        Assert.Contains(dir.Combine(file), e.Message);
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains("changed after export", e.Message);
        Assert.Equal(dir.Combine(file), e.Path);
    }

    [Fact]
    public void Should_name_a_weight_file_that_is_missing()
    {
        var card = CopyOfTiny();
        File.Delete(dir.Combine("tiny.safetensors"));

        var e = Assert.Throws<ModelExportException>(() => ExportedModel.Load(card));

        Assert.Contains(dir.Combine("tiny.safetensors"), e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Should_name_a_card_that_does_not_exist_or_is_not_json()
    {
        var missing = Assert.Throws<ModelExportException>(() => ExportedModel.Load(dir.Combine("nope.json")));
        Assert.Contains(dir.Combine("nope.json"), missing.Message);
        Assert.Contains("does not exist", missing.Message);

        File.WriteAllText(dir.Combine("broken.json"), "{ not json");
        var broken = Assert.Throws<ModelExportException>(() => ExportedModel.Load(dir.Combine("broken.json")));
        Assert.Contains("broken.json", broken.Message);
        Assert.Contains("not a valid model card", broken.Message);
    }

    [Fact]
    public void Should_refuse_a_card_with_an_unknown_architecture_or_inconsistent_classes()
    {
        var card = ModelCard.Load(CopyOfTiny());
        File.WriteAllText(dir.Combine("alien.json"), (card with { Architecture = "alien-net" }).ToJson());
        var alien = Assert.Throws<ModelExportException>(() => ExportedModel.Load(dir.Combine("alien.json")));
        Assert.Contains("architecture 'alien-net' is unknown", alien.Message);
        Assert.Contains("tiny", alien.Message); // lists the known ones

        File.WriteAllText(dir.Combine("classes.json"), (card with { Classes = new ClassList(5, card.Classes.Names) }).ToJson());
        var classes = Assert.Throws<ModelExportException>(() => ExportedModel.Load(dir.Combine("classes.json")));
        Assert.Contains("4 names for 5 classes", classes.Message);
    }

    [Fact]
    public void Should_refuse_to_export_a_network_that_its_card_does_not_describe()
    {
        var card = ExportTestSupport.Card(exports.Student, exports.Data); // cnn-student
        var e = Assert.Throws<ModelExportException>(() => ModelExporter.Export(exports.Tiny.Network, card, dir.Path, "wrong"));

        Assert.Contains("not a cnn-student", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Should_refuse_weight_bytes_that_do_not_load_into_the_cards_architecture()
    {
        var tinyBytes = File.ReadAllBytes(exports.TinyExport.WeightsPath);
        var card = ExportTestSupport.Card(exports.Student, exports.Data);

        var wrong = Assert.Throws<ModelExportException>(() => ModelExporter.ExportBytes(tinyBytes, card, dir.Path, "wrong"));
        Assert.Contains("do not load into cnn-student", wrong.Message);
        var garbage = Assert.Throws<ModelExportException>(() => ModelExporter.ExportBytes([1, 2, 3], card, dir.Path, "garbage"));
        Assert.Contains("3 bytes", garbage.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("sub/model")]
    [InlineData("..")]
    public void Should_refuse_a_base_name_that_is_not_a_plain_file_name(string baseName)
    {
        var card = ExportTestSupport.Card(exports.Tiny, exports.Data);
        Assert.Throws<ArgumentException>(() => ModelExporter.Export(exports.Tiny.Network, card, dir.Path, baseName));
    }
}
