using P2PDistill.Shared.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Akka.Hosting;
using P2PDistill.Shared.Runs;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Hosting;

/// <summary>Waits for the coordinator actor to end the run, writes the summary, and stops the host with the run's exit code.</summary>
public sealed class ClusterRunService(CoordinatorRun run, IHostApplicationLifetime lifetime, IRequiredActor<Actors.CoordinatorActor> coordinator,
    ILogger<ClusterRunService> logger) : BackgroundService
{
    /// <summary>How long a graceful stop (Ctrl+C, SIGTERM) may take to finish the step and write the final checkpoint.</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(90);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            CohortResult result;
            try
            {
                await Task.WhenAny(run.Completion.Task, run.NotStarted.Task).WaitAsync(stoppingToken);
                if (run.NotStarted.Task.IsCompleted)
                {
                    logger.LogError("Not starting: {Why}", run.NotStarted.Task.Result);
                    Environment.ExitCode = CoordinatorHosting.SecondCoordinatorExitCode;
                    return;
                }
                result = await run.Completion.Task;
            }
            catch (OperationCanceledException) when (!run.Started.Task.IsCompleted)
            {
                // Stopped before this node was up as the coordinator: there is no run to finish.
                logger.LogWarning("Stopping before training started");
                return;
            }
            catch (OperationCanceledException)
            {
                // Graceful shutdown: the coordinator finishes the step under way, writes a checkpoint and ends the run.
                logger.LogWarning("Stopping: finishing the current step and writing a final checkpoint (up to {Seconds} s)", StopGrace.TotalSeconds);
                (await coordinator.GetAsync(CancellationToken.None)).Tell(Actors.CoordinatorActor.StopRequested.Instance, Akka.Actor.ActorRefs.NoSender);
                result = await run.Completion.Task.WaitAsync(StopGrace, CancellationToken.None);
            }
            // A run stopped on request exits 0 (its final checkpoint continues it); one that failed (I/O, non-finite loss, a
            // crashed coordinator) exits 1 even during a stop.
            Environment.ExitCode = (int)run.Session.Finish(result, stoppedOnRequest: stoppingToken.IsCancellationRequested, resumable: true);
            // Let TrainingFinished reach the peer nodes before this node leaves the cluster.
            await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
        }
        catch (TimeoutException)
        {
            logger.LogError("The run did not stop within {Seconds} s; the last checkpoint on disk is the newest", StopGrace.TotalSeconds);
            Environment.ExitCode = (int)ExitCode.Failed;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }
}
