using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Export;
using P2PDistill.Tests.Support;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Onnx;

/// <summary>
/// Every classifier's ONNX export run by ONNX Runtime against TorchSharp's evaluation-mode output: on random pixels, on the
/// synthetic set's test images and on real chest X-rays (PneumoniaMNIST, shipped in the repository), at several batch sizes.
/// </summary>
[Trait("Category", "Unit")]
[Collection(TrainedOnnxModelsCollection.Name)]
public sealed class OnnxExportSpecs(TrainedOnnxModels models, ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    public static TheoryData<string> Architectures => [.. OnnxTestSupport.Classifiers];

    /// <summary>
    /// ONNX Runtime's probabilities against the exported model loaded back in TorchSharp (<see cref="ExportedModel.Predict(ImageBatch)"/>:
    /// the card's normalisation, evaluation mode), and its logits against the network's own forward; returns the largest differences.
    /// </summary>
    private static (double Probabilities, double Logits) Compare(OrtModel onnx, ExportedModel torch, ImageBatch batch) =>
        Compare(onnx, torch, batch, out _);

    private static (double Probabilities, double Logits) Compare(OrtModel onnx, ExportedModel torch, ImageBatch batch, out double largestLogit)
    {
        var outputs = onnx.Run(batch);
        var (probabilities, probabilityShape) = outputs[OnnxExporter.ProbabilitiesName];
        var (logits, logitShape) = outputs[OnnxExporter.LogitsName];
        Assert.Equal(new long[] { batch.Count, torch.NumClasses }, probabilityShape);
        Assert.Equal(new long[] { batch.Count, torch.NumClasses }, logitShape);

        var expectedProbabilities = torch.Predict(batch);
        var expectedLogits = OnnxTestSupport.TorchLogits(torch.Network, batch, torch.Normalization);
        double p = OnnxTestSupport.MaxAbsDifference(expectedProbabilities, probabilities);
        double l = OnnxTestSupport.MaxAbsDifference(expectedLogits, logits);
        largestLogit = expectedLogits.Max(v => Math.Abs((double)v));
        Assert.True(p <= OnnxTestSupport.Tolerance, $"{torch.Card.Architecture}: probabilities differ by {p:E2} on a batch of {batch.Count}");
        Assert.True(l <= OnnxTestSupport.Tolerance, $"{torch.Card.Architecture}: logits differ by {l:E2} on a batch of {batch.Count}");
        Assert.Contains(expectedLogits, v => Math.Abs(v) > 1e-3); // not a degenerate network whose outputs are all zero
        return (p, l);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Should_give_what_torchsharp_gives_on_random_and_real_images_at_several_batch_sizes(string architecture)
    {
        var export = models.Export(architecture);
        Assert.NotNull(export.OnnxPath);
        using var torch = ExportedModel.Load(export.CardPath);
        using var onnx = new OrtModel(export.OnnxPath);
        var shape = torch.InputShape;
        var xrays = OnnxTestSupport.PneumoniaMnistTest(16);
        Assert.Equal(shape, xrays.Shape); // 1x28x28, as the models

        var batches = new (string Name, ImageBatch Batch)[]
        {
            ("random pixels, batch 1", OnnxTestSupport.RandomImages(shape, 1, seed: 1)),
            ("random pixels, batch 5", OnnxTestSupport.RandomImages(shape, 5, seed: 2)),
            ("synthetic test images, batch 8", OnnxTestSupport.Images(models.Data.Test, 0, 8)),
            ("synthetic test images, batch 3", OnnxTestSupport.Images(models.Data.Test, 8, 3)),
            ("PneumoniaMNIST test X-rays, batch 16", OnnxTestSupport.Images(xrays, 0, 16)),
        };
        double worstP = 0, worstL = 0;
        foreach (var (name, batch) in batches)
        {
            var (p, l) = Compare(onnx, torch, batch, out var largest);
            log.WriteLine($"{architecture}: {name}: max |Δ probability| {p:E2}, max |Δ logit| {l:E2} (logits up to {largest:F1})");
            worstP = Math.Max(worstP, p);
            worstL = Math.Max(worstL, l);
        }
        log.WriteLine($"{architecture}: largest ONNX Runtime vs TorchSharp difference: probabilities {worstP:E2}, logits {worstL:E2}");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Should_declare_a_dynamic_batch_and_the_cards_input_shape_and_classes(string architecture)
    {
        var export = models.Export(architecture);
        using var onnx = new OrtModel(export.OnnxPath!);
        var input = onnx.Session.InputMetadata[OnnxExporter.InputName];
        Assert.Equal([-1, 1, 28, 28], input.Dimensions);
        Assert.Equal(OnnxExporter.BatchDimension, input.SymbolicDimensions[0]);
        Assert.Equal([OnnxExporter.ProbabilitiesName, OnnxExporter.LogitsName], onnx.Session.OutputNames);
        Assert.Equal([-1, 4], onnx.Session.OutputMetadata[OnnxExporter.ProbabilitiesName].Dimensions);

        var model = OnnxExporter.Read(export.OnnxPath!);
        Assert.Equal(OnnxExporter.Opset, model.OpsetImport.Single().Version);
        Assert.Equal("", model.OpsetImport.Single().Domain);
        var metadata = onnx.Session.ModelMetadata.CustomMetadataMap;
        Assert.Equal(architecture, metadata["p2pdistill.architecture"]);
        Assert.Equal(models.Data.ClassNames, JsonSerializer.Deserialize<string[]>(metadata["p2pdistill.classes"]));
        Assert.Equal("1x28x28", metadata["p2pdistill.input_shape"]);
        var card = ModelCard.FromJson(metadata["p2pdistill.model_card"], "metadata");
        Assert.Equal(architecture, card.Architecture);
        Assert.Equal(export.Card.ParameterCount, card.ParameterCount);
    }

    [Fact]
    public void Should_record_the_cards_normalisation_in_the_metadata_and_apply_it_inside_the_graph()
    {
        var export = models.Export("cnn-student");
        var normalization = models.Trainer("cnn-student").Setup.Normalization;
        Assert.NotEqual(0f, normalization.Mean[0]); // the synthetic set's own statistics, not the identity
        using var onnx = new OrtModel(export.OnnxPath!);
        var metadata = onnx.Session.ModelMetadata.CustomMetadataMap;
        Assert.Equal(normalization.Mean, JsonSerializer.Deserialize<float[]>(metadata["p2pdistill.normalization.mean"]));
        Assert.Equal(normalization.Std, JsonSerializer.Deserialize<float[]>(metadata["p2pdistill.normalization.std"]));
        Assert.Contains("0-255", metadata["p2pdistill.normalization"]);

        // Raw pixels in, the card's normalisation applied by the graph: the same logits as TorchSharp on the normalised batch ...
        var batch = OnnxTestSupport.Images(models.Data.Test, 0, 6);
        var network = models.Trainer("cnn-student").Network;
        var logits = onnx.Run(batch)[OnnxExporter.LogitsName].Values;
        Assert.True(OnnxTestSupport.MaxAbsDifference(OnnxTestSupport.TorchLogits(network, batch, normalization), logits) <= OnnxTestSupport.Tolerance);
        // ... and not those of the network fed without normalisation, or with the pixels only scaled to 0-1.
        Assert.True(OnnxTestSupport.MaxAbsDifference(OnnxTestSupport.TorchLogits(network, batch, Normalization.Identity(1)), logits) > 1e-2);

        // The same network under another card normalisation gives another graph, which again matches TorchSharp under that normalisation.
        var other = new Normalization([0.5f], [0.25f]);
        var card = ExportTestSupport.Card(models.Trainer("cnn-student"), models.Data) with { Normalization = new NormalizationInfo(other.Mean, other.Std) };
        var reexport = ModelExporter.Export(network, card, dir.Path, "other", onnx: true);
        using var otherOnnx = new OrtModel(reexport.OnnxPath!);
        var otherLogits = otherOnnx.Run(batch)[OnnxExporter.LogitsName].Values;
        Assert.True(OnnxTestSupport.MaxAbsDifference(OnnxTestSupport.TorchLogits(network, batch, other), otherLogits) <= OnnxTestSupport.Tolerance);
        Assert.True(OnnxTestSupport.MaxAbsDifference(logits, otherLogits) > 1e-2);
    }

    [Fact]
    public void Should_apply_a_per_channel_normalisation_to_colour_images_and_pool_windows_that_do_not_divide_the_image()
    {
        // 3x30x30: three channels with their own mean and std; tiny's 4x4 adaptive pooling over 30 pixels has overlapping windows.
        var data = TestCohorts.Load(TestCohorts.SyntheticData(train: 128, test: 16) with { SyntheticChannels = 3, SyntheticSize = 30 });
        using var trainer = OnnxTestSupport.Train("tiny", data, steps: 2, seed: 61);
        var normalization = trainer.Setup.Normalization;
        Assert.Equal(3, normalization.Mean.Length);
        var export = ModelExporter.Export(trainer.Network, ExportTestSupport.Card(trainer, data), dir.Path, "rgb", onnx: true);
        using var torch = ExportedModel.Load(export.CardPath);
        using var onnx = new OrtModel(export.OnnxPath!);

        Assert.Equal([-1, 3, 30, 30], onnx.Session.InputMetadata[OnnxExporter.InputName].Dimensions);
        var (p, l) = Compare(onnx, torch, OnnxTestSupport.Images(data.Test, 0, 9));
        var (rp, rl) = Compare(onnx, torch, OnnxTestSupport.RandomImages(data.Shape, 2, seed: 5));
        log.WriteLine($"tiny 3x30x30: max |Δ probability| {Math.Max(p, rp):E2}, max |Δ logit| {Math.Max(l, rl):E2}");

        // A one-value normalisation applies to every channel, as in training.
        var shared = ExportTestSupport.Card(trainer, data) with { Normalization = new NormalizationInfo([0.4f], [0.2f]) };
        var sharedExport = ModelExporter.Export(trainer.Network, shared, dir.Path, "shared", onnx: true);
        using var sharedOnnx = new OrtModel(sharedExport.OnnxPath!);
        var batch = OnnxTestSupport.Images(data.Test, 0, 4);
        Assert.True(OnnxTestSupport.MaxAbsDifference(
            OnnxTestSupport.TorchLogits(trainer.Network, batch, new Normalization([0.4f], [0.2f])),
            sharedOnnx.Run(batch)[OnnxExporter.LogitsName].Values) <= OnnxTestSupport.Tolerance);
    }

    [Fact]
    public void Should_export_resnet_and_mobilenet_with_their_large_input_stems()
    {
        // 3x72x72: above 64 px both take the ImageNet-style stem (resnet18: 7x7/2 conv and 3x3/2 max pool with padding).
        var data = TestCohorts.Load(TestCohorts.SyntheticData(train: 64, test: 8, classes: 3) with { SyntheticChannels = 3, SyntheticSize = 72 });
        foreach (var architecture in new[] { "resnet18", "mobilenet-v2" })
        {
            using var trainer = OnnxTestSupport.Train(architecture, data, steps: 1, seed: 71);
            var export = ModelExporter.Export(trainer.Network, ExportTestSupport.Card(trainer, data), dir.Path, architecture, onnx: true);
            using var torch = ExportedModel.Load(export.CardPath);
            using var onnx = new OrtModel(export.OnnxPath!);
            var (p, l) = Compare(onnx, torch, OnnxTestSupport.Images(data.Test, 0, 3));
            log.WriteLine($"{architecture} 3x72x72: max |Δ probability| {p:E2}, max |Δ logit| {l:E2}");
        }
    }

    [Fact]
    public void Should_write_the_onnx_file_beside_the_weights_and_list_it_in_the_card_with_its_checksum()
    {
        var export = models.Export("mlp");
        Assert.Equal(Path.Combine(Path.GetDirectoryName(export.CardPath)!, "mlp.onnx"), export.OnnxPath);
        Assert.Contains(export.OnnxPath, export.Paths);
        var card = ModelCard.Load(export.CardPath);
        var entry = Assert.Single(card.Files, f => f.Format == OnnxExporter.Format);
        Assert.Equal("mlp.onnx", entry.Name);
        Assert.Equal(ModelExporter.Sha256(export.OnnxPath!), entry.Sha256);
        Assert.Equal(new FileInfo(export.OnnxPath!).Length, entry.Bytes);
        using var loaded = ExportedModel.Load(export.CardPath); // checks every listed file, the .onnx included
        Assert.Equal(3, loaded.Card.Files.Count);
    }

    [Fact]
    public void Should_write_onnx_in_a_runs_export_of_weight_bytes_by_default_and_only_on_request_otherwise()
    {
        var trainer = models.Trainer("tiny");
        var bytes = File.ReadAllBytes(models.Export("tiny").WeightsPath);
        var card = ExportTestSupport.Card(trainer, models.Data);

        var run = ModelExporter.ExportBytes(bytes, card, dir.CreateDirectory("run"), "student-1");
        Assert.True(File.Exists(dir.Combine("run", "student-1.onnx")));
        Assert.Equal(run.OnnxPath, dir.Combine("run", "student-1.onnx"));
        using (var onnx = new OrtModel(run.OnnxPath!))
        using (var torch = ExportedModel.Load(run.CardPath))
            Compare(onnx, torch, OnnxTestSupport.Images(models.Data.Test, 0, 4));

        var plain = ModelExporter.Export(trainer.Network, card, dir.CreateDirectory("plain"), "student-1");
        Assert.Null(plain.OnnxPath);
        Assert.False(File.Exists(dir.Combine("plain", "student-1.onnx")));
        Assert.DoesNotContain(ModelCard.Load(plain.CardPath).Files, f => f.Format == OnnxExporter.Format);
    }

    [Theory]
    [InlineData("constant", "benchmark model")] // the only one: detectors export too (OnnxDetectorSpecs)
    public void Should_export_models_without_onnx_support_without_the_onnx_file_and_refuse_them_by_name_when_asked_directly(string architecture, string reason)
    {
        var spec = new ModelSpec(1, 28, 28, 4);
        using var network = ModelRegistry.Create(architecture, spec);
        var names = Enumerable.Range(0, spec.NumClasses).Select(i => $"class-{i}").ToArray();
        var card = ModelCard.Create("student-1", "student", architecture, spec, names, Normalization.Identity(spec.Channels));

        var export = ModelExporter.Export(network, card, dir.Path, architecture, onnx: true);
        Assert.Null(export.OnnxPath);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.onnx"));

        var e = Assert.Throws<ModelExportException>(() => OnnxExporter.Build(network, card));
        Assert.Contains($"Cannot export 'student-1' to ONNX: '{architecture}'", e.Message);
        Assert.Contains(reason, e.Message);
        Assert.Contains("cnn-student", e.Message); // says what does export
    }

    [Fact]
    public void Should_refuse_an_unknown_architecture_and_a_network_its_card_does_not_describe()
    {
        Assert.Contains("unknown", OnnxExporter.WhyNot("alien-net"));
        var card = ExportTestSupport.Card(models.Trainer("cnn-student"), models.Data);

        var alien = Assert.Throws<ModelExportException>(() => OnnxExporter.Build(models.Trainer("cnn-student").Network, card with { Architecture = "alien-net" }));
        Assert.Contains("architecture 'alien-net' is unknown", alien.Message);

        // A tiny network (4 classes) under a 3-class card: the graph is built from the network, which does not end where the card says.
        var wrongClasses = card with { Classes = new ClassList(3, ["a", "b", "c"]) };
        var mismatch = Assert.Throws<ModelExportException>(() => OnnxExporter.Build(models.Trainer("tiny").Network, wrongClasses));
        Assert.Contains("not [batch, 3] class scores", mismatch.Message);
    }

    [Fact]
    public void Should_name_an_onnx_file_that_is_missing_or_not_onnx()
    {
        var missing = Assert.Throws<ModelExportException>(() => OnnxExporter.Read(dir.Combine("none.onnx")));
        Assert.Contains(dir.Combine("none.onnx"), missing.Message);
        Assert.Contains("does not exist", missing.Message);

        File.WriteAllBytes(dir.Combine("junk.onnx"), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        var junk = Assert.Throws<ModelExportException>(() => OnnxExporter.Read(dir.Combine("junk.onnx")));
        Assert.Contains(dir.Combine("junk.onnx"), junk.Message);
        Assert.Contains("not an ONNX model", junk.Message);

        File.WriteAllText(dir.Combine("text.onnx"), "hello, this is not a model");
        var text = Assert.Throws<ModelExportException>(() => OnnxExporter.Read(dir.Combine("text.onnx")));
        Assert.Contains(dir.Combine("text.onnx"), text.Message);
        Assert.Contains("not an ONNX model", text.Message);
    }
}
