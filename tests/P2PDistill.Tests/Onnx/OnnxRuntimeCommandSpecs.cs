using P2PDistill.Coordinator.Commands;
using P2PDistill.Coordinator.Onnx;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Onnx;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Export;
using SkiaSharp;

namespace P2PDistill.Tests.Onnx;

/// <summary>
/// <c>evaluate</c> and <c>predict</c> with .onnx files: ONNX Runtime runs them (no TorchSharp at inference) and they score and
/// predict as the TorchSharp exports do; files that are not P2PDistill's ONNX are refused, naming the file.
/// </summary>
[Trait("Category", "Unit")]
[Collection(TrainedOnnxModelsCollection.Name)]
public sealed class OnnxRuntimeCommandSpecs(TrainedOnnxModels models) : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static Task<(int Code, string Out, string Err)> Evaluate(params string[] args) => ExportTestSupport.Run(EvaluateCommand.RunAsync, args);
    private static Task<(int Code, string Out, string Err)> Predict(params string[] args) => ExportTestSupport.Run(PredictCommand.RunAsync, args);

    /// <summary>The metric cells of the table row that starts with <paramref name="start"/> (after the model, architecture and card columns).</summary>
    private static string Cells(string output, string start)
    {
        var row = output.Split('\n').Single(l => l.StartsWith(start, StringComparison.Ordinal));
        return string.Join("|", row.Split('|').Skip(4));
    }

    private string Onnx(string architecture) => models.Export(architecture).OnnxPath!;
    private string CardOf(string architecture) => models.Export(architecture).CardPath;

    [Fact]
    public async Task Should_score_onnx_files_and_an_ensemble_file_as_the_torchsharp_exports_score()
    {
        var ensemble = dir.Combine("ensemble.onnx");
        var written = await ExportTestSupport.Run(ExportCommand.RunAsync, "--model", CardOf("cnn-student"), "--model", CardOf("mlp"), "--onnx", "--output", ensemble);
        Assert.True(written.Code == ExitCodes.Ok, written.Err);

        var torch = await Evaluate(["--model", CardOf("cnn-student"), "--model", CardOf("mlp"), .. ExportTestSupport.SyntheticArgs()]);
        var ort = await Evaluate(["--model", Onnx("cnn-student"), "--model", Onnx("mlp"), .. ExportTestSupport.SyntheticArgs()]);
        var file = await Evaluate(["--model", ensemble, .. ExportTestSupport.SyntheticArgs()]);

        Assert.True(torch.Code == ExitCodes.Ok, torch.Err);
        Assert.True(ort.Code == ExitCodes.Ok, ort.Err);
        Assert.True(file.Code == ExitCodes.Ok, file.Err);
        Assert.Contains("| student-cnn-student | cnn-student (ONNX Runtime) | cnn-student.onnx |", ort.Out);
        Assert.Contains("| ensemble | ensemble of 2 cnn-student (ONNX Runtime) | ensemble.onnx |", file.Out);
        // Accuracy, macro-F1 and NLL to four decimals: the same from ONNX Runtime as from TorchSharp.
        Assert.Equal(Cells(torch.Out, "| student-cnn-student |"), Cells(ort.Out, "| student-cnn-student |"));
        Assert.Equal(Cells(torch.Out, "| student-mlp |"), Cells(ort.Out, "| student-mlp |"));
        Assert.Equal(Cells(torch.Out, "| ensemble of 2 |"), Cells(ort.Out, "| ensemble of 2 |"));
        Assert.Equal(Cells(torch.Out, "| ensemble of 2 |"), Cells(file.Out, "| ensemble |"));
    }

    [Fact]
    public async Task Should_predict_from_an_onnx_file_as_from_its_card()
    {
        var images = new[] { ("white.png", SKColors.White), ("dark.png", new SKColor(20, 20, 20)), ("gray.png", new SKColor(128, 128, 128)) }
            .Select(i => { var path = dir.Combine(i.Item1); TestFiles.WritePng(path, 28, 28, i.Item2, SKEncodedImageFormat.Png); return path; }).ToArray();

        var torch = await Predict(["--model", CardOf("resnet18"), .. images]);
        var ort = await Predict(["--model", Onnx("resnet18"), .. images]);

        Assert.True(torch.Code == ExitCodes.Ok, torch.Err);
        Assert.True(ort.Code == ExitCodes.Ok, ort.Err);
        Assert.Equal(3, ort.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(torch.Out, ort.Out); // top class and its probability (4 decimals) per image
    }

    [Fact]
    public void Should_load_what_the_metadata_says_and_run_one_thread_when_asked()
    {
        using var model = OnnxRuntimeModel.Load(Onnx("tiny"), threads: 1);

        Assert.Equal("model", model.Kind);
        Assert.Equal("student-tiny", model.Card.ModelId);
        Assert.Equal(models.Data.Test.Shape, model.InputShape);
        Assert.Equal(models.Data.ClassNames, model.ClassNames);
        var batch = OnnxTestSupport.Images(models.Data.Test, 0, 7);
        using var torch = ExportedModel.Load(CardOf("tiny"));
        Assert.True(OnnxTestSupport.MaxAbsDifference(torch.Predict(batch), model.Predict(batch)) <= OnnxTestSupport.Tolerance);
    }

    [Fact]
    public async Task Should_refuse_an_onnx_file_without_p2pdistill_metadata_naming_it()
    {
        var proto = OnnxExporter.Read(Onnx("tiny"));
        proto.MetadataProps.Clear();
        var foreign = dir.Combine("foreign.onnx");
        OnnxExporter.Write(proto, foreign);

        var (code, _, error) = await Evaluate(["--model", foreign, .. ExportTestSupport.SyntheticArgs()]);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains($"ONNX file '{foreign}' was not written by P2PDistill", error);
        Assert.Contains("export --model CARD.json --onnx", error);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("missing")]
    public async Task Should_refuse_a_broken_or_missing_onnx_file_naming_it(string kind)
    {
        var path = dir.Combine($"{kind}.onnx");
        if (kind == "garbage") File.WriteAllBytes(path, [.. Enumerable.Range(0, 300).Select(i => (byte)(i * 7))]);
        if (kind == "truncated") File.WriteAllBytes(path, File.ReadAllBytes(Onnx("cnn-student"))[..2000]);

        var (code, output, error) = await Predict("--model", path, dir.Combine("none.png"));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains($"'{path}'", error);
        Assert.Contains(kind == "missing" ? "does not exist" : "does not load in ONNX Runtime", error);
        Assert.Equal("", output);
    }
}
