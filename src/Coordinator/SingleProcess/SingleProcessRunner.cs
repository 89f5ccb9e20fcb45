using P2PDistill.Shared.Hosting;
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
        torch.set_num_threads(t.Threads > 0 ? t.Threads : Environment.ProcessorCount);

        var plan = RunSession.LoadPlan(t, data.Value, optimizer.Value, logger);
        plan.EnsureModelsFit();
        // The new run directory holds its lock (RunDirectory.Create) until the session is disposed.
        using var session = RunSession.Create(RunKind.SingleProcess, plan, logger);
        using var trainer = new CohortTrainer(plan, logger)
        {
            ExportDirectory = session.ExportDirectory,
            CheckpointDirectory = session.CheckpointDirectory,
            RunId = session.RunId,
        };
        logger.LogInformation("Cohort: teacher {Teacher} + {Students}, mode {Mode}, {Epochs} epoch(s) of {Steps} steps, batch {Batch}",
            t.TeacherModel, t.StudentsDescription(t.Students), t.Mode.Name(), t.Epochs, plan.StepsPerEpoch, t.BatchSize);
        var result = trainer.Run(session.Observer, stoppingToken);
        // This runner keeps no resumable state between steps: a stopped run is not finished.
        return (int)session.Finish(result, stoppedOnRequest: stoppingToken.IsCancellationRequested, resumable: false);
    }
}
