using P2PDistill.Shared.Hosting;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Export;
using P2PDistill.Tests.Data;
using SkiaSharp;

namespace P2PDistill.Tests.Export;

[Trait("Category", "Fault")]
public sealed class CommandFaultSpecs(TrainedExports exports) : IClassFixture<TrainedExports>, IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static Task<(int Code, string Out, string Err)> Evaluate(params string[] args) => ExportTestSupport.Run(EvaluateCommand.RunAsync, args);

    private static Task<(int Code, string Out, string Err)> Predict(params string[] args) => ExportTestSupport.Run(PredictCommand.RunAsync, args);

    [Fact]
    public async Task Should_exit_2_naming_a_model_file_that_does_not_exist()
    {
        var missing = dir.Combine("no-such-model.json");

        var evaluate = await Evaluate(["--model", missing, .. ExportTestSupport.SyntheticArgs()]);
        var predict = await Predict("--model", missing, "image.png");

        Assert.Equal((int)ExitCode.BadInput, evaluate.Code);
        Assert.Contains(missing, evaluate.Err);
        Assert.Contains("does not exist", evaluate.Err);
        Assert.Equal("", evaluate.Out);
        Assert.Equal((int)ExitCode.BadInput, predict.Code);
        Assert.Contains(missing, predict.Err);
    }

    [Fact]
    public async Task Should_exit_2_when_the_dataset_has_other_classes_than_the_model()
    {
        var (code, output, error) = await Evaluate(["--model", exports.TinyExport.CardPath, .. ExportTestSupport.SyntheticArgs(classes: 3)]);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains(exports.TinyExport.CardPath, error);
        Assert.Contains("it has 4 classes but the dataset has 3", error);
    }

    [Fact]
    public async Task Should_exit_2_when_the_images_have_another_shape_than_the_model()
    {
        var (code, _, error) = await Evaluate(["--model", exports.TinyExport.CardPath, .. ExportTestSupport.SyntheticArgs(), "--Data:SyntheticSize=32"]);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains("its input is 1x28x28 but the images are 1x32x32", error);
    }

    [Fact]
    public async Task Should_exit_2_for_a_tampered_model_naming_the_file()
    {
        foreach (var path in exports.TinyExport.Paths) File.Copy(path, dir.Combine(Path.GetFileName(path)));
        var bytes = File.ReadAllBytes(dir.Combine("tiny.dat"));
        bytes[^1] ^= 0x80;
        File.WriteAllBytes(dir.Combine("tiny.dat"), bytes);

        var (code, _, error) = await Evaluate(["--model", dir.Combine("tiny.json"), .. ExportTestSupport.SyntheticArgs()]);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains(dir.Combine("tiny.dat"), error);
        Assert.Contains("SHA-256", error);
    }

    [Theory]
    [InlineData("--bogus", "Unknown option '--bogus'")]
    [InlineData("--Training:Epochs=3", "'--Training:Epochs' does not apply")]
    [InlineData("--Data:NoSuchKey=1", "NoSuchKey")]
    [InlineData("--batch-size=0", "--batch-size must be a positive whole number")]
    [InlineData("stray", "no positional arguments, got 'stray'")]
    public async Task Should_exit_2_for_bad_evaluate_options(string option, string message)
    {
        var (code, _, error) = await Evaluate(["--model", exports.TinyExport.CardPath, .. ExportTestSupport.SyntheticArgs(), option]);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains(message, error);
    }

    [Fact]
    public async Task Should_exit_2_without_a_model()
    {
        Assert.Contains("needs at least one --model", (await Evaluate("--dataset", "synthetic")).Err);
        Assert.Equal((int)ExitCode.BadInput, (await Predict("a.png")).Code);
    }

    [Fact]
    public async Task Should_exit_2_naming_an_unreadable_image_and_still_classify_the_others()
    {
        TestFiles.WritePng(dir.Combine("good.png"), 28, 28, SKColors.White);
        File.WriteAllText(dir.Combine("fake.png"), "this is not a PNG");
        var missing = dir.Combine("missing.png");

        var (code, output, error) = await Predict("--model", exports.TinyExport.CardPath, dir.Combine("fake.png"), dir.Combine("good.png"), missing);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains(dir.Combine("fake.png"), error);
        Assert.Contains("cannot be decoded", error);
        Assert.Contains($"'{missing}' does not exist", error);
        Assert.Contains("2 of 3 image(s) could not be read", error);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(dir.Combine("good.png") + "\t", line);
    }

    [Fact]
    public async Task Should_exit_2_without_images_or_for_models_with_other_classes()
    {
        var noImages = await Predict("--model", exports.TinyExport.CardPath);
        Assert.Equal((int)ExitCode.BadInput, noImages.Code);
        Assert.Contains("at least one image", noImages.Err);

        var binary = ExportTestSupport.Data(classes: 2);
        using var trainer = ExportTestSupport.Train("tiny", binary, steps: 1, seed: 51);
        var other = ModelExporter.Export(trainer.Network, ExportTestSupport.Card(trainer, binary), dir.Path, "binary");
        TestFiles.WritePng(dir.Combine("good.png"), 28, 28, SKColors.White);

        var mixed = await Predict("--model", exports.TinyExport.CardPath, "--model", other.CardPath, dir.Combine("good.png"));
        Assert.Equal((int)ExitCode.BadInput, mixed.Code);
        Assert.Contains("must share input shape and classes", mixed.Err);
        Assert.Contains(other.CardPath, mixed.Err);
    }
}
