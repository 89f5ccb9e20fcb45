using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Detection.Data;
using P2PDistill.Tests.Export;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Export;

/// <summary>Bad input to <c>evaluate</c> and <c>predict</c> with detectors: mixed tasks, a data set of the other task, files that are not images, a bad --draw.</summary>
[Trait("Category", "Fault")]
public sealed class DetectionCommandFaultSpecs(TrainedDetectors detectors, TrainedExports classifiers)
    : IClassFixture<TrainedDetectors>, IClassFixture<TrainedExports>, IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static Task<(int Code, string Out, string Err)> Evaluate(params string[] args) => ExportTestSupport.Run(EvaluateCommand.RunAsync, args);

    private static Task<(int Code, string Out, string Err)> Predict(params string[] args) => ExportTestSupport.Run(PredictCommand.RunAsync, args);

    [Fact]
    public async Task Should_refuse_a_detector_and_a_classifier_in_one_evaluation_naming_both_cards()
    {
        var (code, output, error) = await Evaluate(["--model", detectors.ExportA.CardPath, "--model", classifiers.TinyExport.CardPath,
            .. DetectionExportSupport.EvaluateArgs()]);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains("Models of one evaluation must share their task", error);
        Assert.Contains($"'{detectors.ExportA.CardPath}' (det-student 'student-det-a'", error);
        Assert.Contains("is a detection model", error);
        Assert.Contains($"'{classifiers.TinyExport.CardPath}' (tiny 'student-tiny'", error);
        Assert.Contains("a classification model", error);
    }

    [Fact]
    public async Task Should_refuse_a_classifier_and_a_detector_in_one_prediction_naming_both_cards()
    {
        DetectionFiles.WriteImage(dir.Combine("image.png"), 40, 30, SKColors.Gray);

        var (code, output, error) = await Predict("--model", classifiers.TinyExport.CardPath, "--model", detectors.ExportA.CardPath, dir.Combine("image.png"));

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains("Models of one prediction must share their task", error);
        Assert.Contains(classifiers.TinyExport.CardPath, error);
        Assert.Contains(detectors.ExportA.CardPath, error);
    }

    [Fact]
    public async Task Should_refuse_to_evaluate_a_detector_on_a_classification_data_set()
    {
        var (code, _, error) = await Evaluate(["--model", detectors.ExportA.CardPath, "--dataset", "synthetic", .. DetectionExportSupport.EvaluateArgs()]);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains("Model 'student-det-a' (det-student) is a detection model, but --dataset synthetic is not a detection data set: " +
            "choose one of synthetic-detection, yolo, coco.", error);
    }

    [Fact]
    public async Task Should_name_a_file_that_is_not_an_image_and_still_predict_the_others()
    {
        File.WriteAllText(dir.Combine("notes.png"), "these are notes, not a picture");
        DetectionFiles.WriteImage(dir.Combine("good.png"), 40, 30, SKColors.Gray);

        var (code, output, error) = await Predict("--model", detectors.ExportB.CardPath, "--draw", dir.Combine("drawn"), dir.Combine("notes.png"), dir.Combine("good.png"));

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains($"Image file '{dir.Combine("notes.png")}' cannot be decoded", error);
        Assert.Contains("1 of 2 image(s) could not be read", error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.StartsWith(dir.Combine("good.png") + "\t", l));
        Assert.Equal(["good.png"], Directory.GetFiles(dir.Combine("drawn")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Should_refuse_a_draw_folder_that_is_a_file()
    {
        DetectionFiles.WriteImage(dir.Combine("good.png"), 40, 30, SKColors.Gray);
        File.WriteAllText(dir.Combine("taken"), "a file");

        var (code, output, error) = await Predict("--model", detectors.ExportA.CardPath, "--draw", dir.Combine("taken"), dir.Combine("good.png"));

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains($"--draw '{dir.Combine("taken")}' is a file", error);
    }
}
