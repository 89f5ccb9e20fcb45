using P2PDistill.Shared.Hosting;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Runs;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Training;
using TorchSharp;

namespace P2PDistill.Coordinator.SingleProcess;

/// <summary>Runs the single-process cohort trainer as a hosted job, writes the run directory, then stops the host.</summary>
public sealed class SingleProcessRunner(
    IOptions<TrainingOptions> training,
    IOptions<DataOptions> data,
    IOptions<OptimizerOptions> optimizer,
    IHostApplicationLifetime lifetime,
    ILogger<SingleProcessRunner> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // TorchSharp work stays on one dedicated thread (DESIGN.md §8).
        Task.Factory.StartNew(() => Run(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        try
        {
            Environment.ExitCode = Train(stoppingToken);
        }
        catch (Exception e) when (e is DatasetException or ArgumentException or IOException)
        {
            // Bad input (dataset, models, paths): one line on stderr, like every other start-up error.
            Console.Error.WriteLine($"error: {e.Message}");
            Environment.ExitCode = (int)ExitCode.BadInput;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Training failed");
            Environment.ExitCode = (int)ExitCode.Failed;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    private int Train(CancellationToken stoppingToken)
    {
        var t = training.Value;
        var d = data.Value;
        torch.set_num_threads(t.Threads > 0 ? t.Threads : Environment.ProcessorCount);

        // The dataset first: a missing or corrupt dataset stops the run before anything is written.
        var loadClock = System.Diagnostics.Stopwatch.StartNew();
        var splits = DatasetFactory.Load(d);
        foreach (var warning in splits.Warnings) logger.LogWarning("{Warning}", warning);
        var normalization = DatasetFactory.DefaultNormalization(d, splits);
        logger.LogInformation("Dataset {Name}: {Train} training and {Test} test images, {Shape}, {Classes} classes, loaded in {Seconds:F1} s",
            d.Dataset, splits.Train.Count, splits.Test.Count, splits.Shape, splits.NumClasses, loadClock.Elapsed.TotalSeconds);

        var plan = new TrainingPlan(t, d, splits, normalization, optimizer.Value);
        plan.EnsureModelsFit();

        var run = RunDirectory.Create(t.OutputDirectory, t.RunName);
        logger.LogInformation("Run directory: {Run}", run.Path);
        run.WriteConfiguration(new { mode = "single-process", training = t, data = d, optimizer = optimizer.Value });

        using var trainer = new CohortTrainer(plan, logger) {
            ExportDirectory = Path.Combine(run.Path, "models"),
            CheckpointDirectory = Path.Combine(run.Path, "checkpoints"),
        };
        logger.LogInformation("Cohort: teacher {Teacher} + {Students} x {Student}, mode {Mode}, {Epochs} epoch(s) of {Steps} steps, batch {Batch}",
            t.TeacherModel, t.Students, t.StudentModel, t.Distillation.Mode.Name(), t.Epochs, trainer.StepsPerEpoch, t.BatchSize);

        using var metrics = new MetricsWriter(run.Path);
        ITrainingObserver progress = ProgressBar.Available
            ? new ProgressBar(trainer.StepsPerEpoch, t.Epochs)
            : new ProgressLog(logger, trainer.StepsPerEpoch, t.Epochs);
        var curves = new LearningCurves(run.Path);
        var result = trainer.Run(new CompositeObserver(metrics, new TensorBoardObserver(run.Path), curves, progress), stoppingToken);
        curves.Draw();
        P2PDistill.Coordinator.Hosting.RunExports.Write(result, t, d, splits.ClassNames, logger);

        var summary = Summary.Markdown(result, t, d.Dataset);
        run.WriteSummary(summary);
        Console.WriteLine();
        Console.WriteLine(summary);
        logger.LogInformation("{Steps} steps in {Seconds:F1} s: {Rate:F0} images/s; run directory {Run}", result.Steps, result.Seconds, result.ImagesPerSecond, run.Path);
        if (!result.Completed) logger.LogError("Run stopped early: {Reason}", result.StopReason);
        return result.Completed ? 0 : 1;
    }
}
