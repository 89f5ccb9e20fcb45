using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Export;

namespace P2PDistill.Tests.Onnx;

/// <summary><c>export --model M.json --onnx</c>: an earlier run's exported models converted to ONNX, and its bad input.</summary>
[Trait("Category", "Unit")]
[Collection(TrainedOnnxModelsCollection.Name)]
public sealed class ExportCommandSpecs(TrainedOnnxModels models) : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static Task<(int Code, string Out, string Err)> Export(params string[] args) => ExportTestSupport.Run(ExportCommand.RunAsync, args);

    /// <summary>An export as a run leaves it without ONNX: .dat, .safetensors and the card, in <paramref name="folder"/>.</summary>
    private ExportResult PlainExport(string architecture, string folder, string? id = null)
    {
        var trainer = models.Trainer(architecture);
        var card = ExportTestSupport.Card(trainer, models.Data);
        if (id is not null) card = card with { ModelId = id };
        return ModelExporter.Export(trainer.Network, card, dir.CreateDirectory(folder), id ?? architecture);
    }

    [Fact]
    public async Task Should_convert_one_model_beside_its_card_and_list_it_in_the_card()
    {
        var export = PlainExport("cnn-teacher", "run");
        Assert.DoesNotContain(export.Card.Files, f => f.Format == OnnxExporter.Format);

        var (code, output, error) = await Export("--model", export.CardPath, "--onnx");

        Assert.True(code == ExitCodes.Ok, error);
        var onnxPath = dir.Combine("run", "cnn-teacher.onnx");
        Assert.Contains($"wrote {onnxPath}", output);
        Assert.Contains($"listed in {export.CardPath}", output);
        var card = ModelCard.Load(export.CardPath);
        var entry = Assert.Single(card.Files, f => f.Format == OnnxExporter.Format);
        Assert.Equal(ModelExporter.Sha256(onnxPath), entry.Sha256);
        using var torch = ExportedModel.Load(export.CardPath); // every listed file checks out
        using var onnx = new OrtModel(onnxPath);
        var batch = OnnxTestSupport.Images(models.Data.Test, 0, 5);
        Assert.True(OnnxTestSupport.MaxAbsDifference(torch.Predict(batch), onnx.Run(batch)[OnnxExporter.ProbabilitiesName].Values) <= OnnxTestSupport.Tolerance);

        // Converting again replaces the file and its entry.
        var again = await Export("--model", export.CardPath, "--onnx");
        Assert.Equal(ExitCodes.Ok, again.Code);
        Assert.Single(ModelCard.Load(export.CardPath).Files, f => f.Format == OnnxExporter.Format);
    }

    [Fact]
    public async Task Should_write_several_models_as_their_ensemble_graph()
    {
        var a = PlainExport("cnn-student", "run", "student-1");
        var b = PlainExport("tiny", "run", "student-2");

        var (code, output, error) = await Export("--model", a.CardPath, "--model", b.CardPath, "--onnx");

        Assert.True(code == ExitCodes.Ok, error);
        var path = dir.Combine("run", ExportCommand.EnsembleFileName);
        Assert.Contains($"wrote {path}: the ensemble of 2", output);
        using var onnx = new OrtModel(path);
        using var first = ExportedModel.Load(a.CardPath);
        using var second = ExportedModel.Load(b.CardPath);
        var batch = OnnxTestSupport.Images(models.Data.Test, 3, 7);
        var expected = Shared.Metrics.Ensemble.MeanProbabilities([first.Predict(batch), second.Predict(batch)]);
        Assert.True(OnnxTestSupport.MaxAbsDifference(expected, onnx.Run(batch)[OnnxExporter.ProbabilitiesName].Values) <= OnnxTestSupport.Tolerance);
        Assert.DoesNotContain(ModelCard.Load(a.CardPath).Files, f => f.Format == OnnxExporter.Format); // the cards are left as they were
    }

    [Fact]
    public async Task Should_write_to_output_elsewhere_without_touching_the_card()
    {
        var export = PlainExport("mlp", "run");
        var cardBefore = File.ReadAllText(export.CardPath);
        var target = dir.Combine("device", "nested", "model.onnx");

        var (code, output, error) = await Export("--model", export.CardPath, "--onnx", "--output", target);

        Assert.True(code == ExitCodes.Ok, error);
        Assert.True(File.Exists(target));
        Assert.DoesNotContain("listed in", output);
        Assert.Equal(cardBefore, File.ReadAllText(export.CardPath));
    }

    [Fact]
    public async Task Should_exit_2_naming_a_model_card_that_does_not_exist()
    {
        var missing = dir.Combine("no-such-model.json");

        var (code, output, error) = await Export("--model", missing, "--onnx");

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains(missing, error);
        Assert.Contains("does not exist", error);
    }

    [Fact]
    public async Task Should_exit_2_without_onnx_or_without_a_model_saying_what_to_add()
    {
        var export = PlainExport("tiny", "run");

        var noFormat = await Export("--model", export.CardPath);
        Assert.Equal((int)ExitCode.BadInput, noFormat.Code);
        Assert.Contains("add --onnx", noFormat.Err);
        Assert.False(File.Exists(dir.Combine("run", "tiny.onnx")));

        var noModel = await Export("--onnx");
        Assert.Equal((int)ExitCode.BadInput, noModel.Code);
        Assert.Contains("--model CARD.json", noModel.Err);

        var positional = await Export("--onnx", export.CardPath);
        Assert.Equal((int)ExitCode.BadInput, positional.Code);
        Assert.Contains("--model CARD.json", positional.Err);
    }

    [Fact]
    public async Task Should_exit_2_for_a_model_without_onnx_export_naming_its_card()
    {
        var spec = new ModelSpec(1, 28, 28, 4);
        using var constant = ModelRegistry.Create("constant", spec);
        var card = ModelCard.Create("student-1", "student", "constant", spec, models.Data.ClassNames, Normalization.Identity(1));
        var export = ModelExporter.Export(constant, card, dir.CreateDirectory("bench"), "student-1");

        var (code, _, error) = await Export("--model", export.CardPath, "--onnx");

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains(export.CardPath, error);
        Assert.Contains("cannot be exported to ONNX", error);
        Assert.Contains("benchmark model", error);
        Assert.Empty(Directory.GetFiles(dir.Combine("bench"), "*.onnx"));
    }

    [Fact]
    public async Task Should_exit_2_for_a_tampered_model_or_models_that_do_not_fit_together()
    {
        var export = PlainExport("tiny", "run");
        var bytes = File.ReadAllBytes(export.WeightsPath);
        bytes[^2] ^= 0x10;
        File.WriteAllBytes(export.WeightsPath, bytes);
        var tampered = await Export("--model", export.CardPath, "--onnx");
        Assert.Equal((int)ExitCode.BadInput, tampered.Code);
        Assert.Contains(export.WeightsPath, tampered.Err);
        Assert.Contains("SHA-256", tampered.Err);

        var fourClasses = PlainExport("mlp", "four");
        var binary = ExportTestSupport.Data(classes: 2);
        using var trainer = OnnxTestSupport.Train("tiny", binary, steps: 1, seed: 81);
        var twoClasses = ModelExporter.Export(trainer.Network, ExportTestSupport.Card(trainer, binary), dir.CreateDirectory("two"), "tiny");
        var mixed = await Export("--model", fourClasses.CardPath, "--model", twoClasses.CardPath, "--onnx");
        Assert.Equal((int)ExitCode.BadInput, mixed.Code);
        Assert.Contains("share input shape and classes", mixed.Err);
        Assert.Contains(twoClasses.CardPath, mixed.Err);
        Assert.False(File.Exists(dir.Combine("four", ExportCommand.EnsembleFileName)));

        var folder = await Export("--model", fourClasses.CardPath, "--onnx", "--output", dir.CreateDirectory("a-folder"));
        Assert.Equal((int)ExitCode.BadInput, folder.Code);
        Assert.Contains("is a folder", folder.Err);
    }

    [Fact]
    public async Task Should_print_its_usage_with_help()
    {
        var (code, output, _) = await Export("--help");

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("export --model MODEL.json", output);
        Assert.Contains("--onnx", output);
        Assert.Contains("raw pixel values 0-255", output);
    }
}
