using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Runs;

namespace P2PDistill.Coordinator.Hosting;

/// <summary>Waits for the coordinator actor to end the run, writes the summary, and stops the host with the run's exit code.</summary>
public sealed class ClusterRunService(CoordinatorRun run, IHostApplicationLifetime lifetime, ILogger<ClusterRunService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var result = await run.Completion.Task.WaitAsync(stoppingToken);
            run.Curves.Draw();
            RunExports.Write(result, run.Plan.Training, run.Plan.Data, run.Plan.Splits.ClassNames, logger);
            var summary = Summary.Markdown(result, run.Plan.Training, run.Plan.Data.Dataset);
            run.Run.WriteSummary(summary);
            Console.WriteLine();
            Console.WriteLine(summary);
            logger.LogInformation("{Steps} steps in {Seconds:F1} s: {Rate:F0} images/s; run directory {Run}", result.Steps, result.Seconds, result.ImagesPerSecond, run.Run.Path);
            if (!result.Completed) logger.LogError("Run stopped early: {Reason}", result.StopReason);
            Environment.ExitCode = result.Completed ? 0 : 1;
            // Let TrainingFinished reach the peer nodes before this node leaves the cluster.
            await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Stopped before the run finished");
            Environment.ExitCode = 130;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }
}
