using Microsoft.Extensions.Logging;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Runs;

/// <summary>
/// The end of a run (<see cref="RunSession.Finish"/>, in process, one step): a detection run draws plots/detections.png from the
/// exported models, a classification run draws none, and a picture that cannot be written loses nothing else.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TestImagesPlotSpecs : IDisposable
{
    private readonly TempDirectory dir = new();
    private readonly List<string> log = [];

    public void Dispose() => dir.Dispose();

    /// <summary>Trains one step and finishes the run; <paramref name="beforeFinish"/> sees the run directory first.</summary>
    private (ExitCode Code, string Run) Run(TaskKind task, Action<string>? beforeFinish = null)
    {
        var logger = new ListLogger(log);
        var detection = task == TaskKind.Detection;
        var data = detection
            ? new DataOptions { Task = task, SyntheticTrain = 16, SyntheticTest = 8, ImageSize = 32, Seed = 5 }
            : new DataOptions { Task = task, Dataset = "synthetic", SyntheticTrain = 16, SyntheticTest = 8, SyntheticClasses = 3, Seed = 5 };
        var training = new TrainingOptions
        {
            Task = task, TeacherModel = detection ? "det-student" : "tiny", StudentModel = detection ? "det-student" : "tiny", Students = 2,
            Epochs = 1, BatchSize = 8, MaxStepsPerEpoch = 1, Mode = DistillMode.KdMl, Seed = 3, OutputDirectory = dir.Path, RunName = "run",
        };
        var plan = RunSession.LoadPlan(training, data, new OptimizerOptions(), logger);
        using var session = RunSession.Create(RunKind.SingleProcess, plan, logger);
        using var trainer = new CohortTrainer(plan, logger) { ExportDirectory = session.ExportDirectory };
        var result = trainer.Run(session.Observer);
        beforeFinish?.Invoke(session.Run.Path);
        return (session.Finish(result, stoppedOnRequest: false, resumable: false), session.Run.Path);
    }

    [Fact]
    public void Should_draw_the_first_six_test_images_with_truth_teacher_student_and_ensemble_at_the_end_of_a_detection_run()
    {
        var (code, run) = Run(TaskKind.Detection);

        Assert.Equal(ExitCode.Completed, code);
        var path = Path.Combine(run, "plots", "detections.png");
        Assert.True(File.Exists(path), string.Join("\n", log));
        Assert.Contains(log, l => l.Contains(path, StringComparison.Ordinal) && l.Contains("first 6 test images", StringComparison.Ordinal));
        using var picture = SKBitmap.Decode(path);
        // Cells of 32x32 images enlarged 8 times: 4 columns (truth, teacher, student-1, ensemble) by 6 rows of 256x256.
        Assert.InRange(picture.Width, 4 * 256, 4 * 256 + 200);
        Assert.InRange(picture.Height, 6 * 256, 6 * 256 + 200);
        Assert.True(File.Exists(Path.Combine(run, "summary.md")));
    }

    [Fact]
    public void Should_draw_no_test_images_for_a_classification_run()
    {
        var (code, run) = Run(TaskKind.Classification);

        Assert.Equal(ExitCode.Completed, code);
        Assert.True(File.Exists(Path.Combine(run, "models", "student-1.json")));
        Assert.False(File.Exists(Path.Combine(run, "plots", "detections.png")));
        Assert.Empty(Directory.GetFiles(Path.Combine(run, "plots"), "detections*"));
    }

    [Fact]
    public void Should_log_a_picture_it_cannot_write_and_keep_every_other_output()
    {
        // A folder where the PNG should go: writing it fails.
        var (code, run) = Run(TaskKind.Detection, run => Directory.CreateDirectory(Path.Combine(run, "plots", "detections.png")));

        Assert.Equal(ExitCode.Completed, code);
        Assert.Contains(log, l => l.StartsWith("Could not draw the test images with their predictions", StringComparison.Ordinal));
        foreach (var file in new[] { "summary.md", "plots/pr.png", "models/teacher.json", "models/student-2.safetensors", "metrics/eval.csv" })
            Assert.True(File.Exists(Path.Combine(run, file)), $"missing {file}");
    }

    private sealed class ListLogger(List<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (lines) lines.Add(formatter(state, exception));
        }
    }
}
