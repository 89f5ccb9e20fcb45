using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Runs;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Hosting;

/// <summary>
/// One coordinated run: the dataset, the training plan, the run directory and its observers, and the
/// completion the hosted service waits on. Built once, before the actor system starts, so that bad data
/// or a batch too large for the remoting frame stop the program with a clear message.
/// </summary>
public sealed class CoordinatorRun : IDisposable
{
    public CoordinatorRun(IOptions<TrainingOptions> training, IOptions<DataOptions> data, IOptions<OptimizerOptions> optimizer,
        IOptions<NodeOptions> node, IOptions<ClusterRunOptions> run, ILoggerFactory logging)
    {
        var logger = logging.CreateLogger("P2PDistill.Run");
        Logging = logging;
        var t = training.Value;
        Plan = RunSession.LoadPlan(t, data.Value, optimizer.Value, logger);

        if (run.Value.Embedded) Plan.EnsureModelsFit();
        // A resume checks its port once it holds the run: the same command started twice is told who holds the run.
        if (!run.Value.Embedded && run.Value.Resume is null) node.Value.EnsurePortFree();
        var largest = LargestMessageBytes(Plan);
        // The frame also carries Akka's envelope (actor paths, manifest, ...): a message that fills the frame alone is dropped.
        var needed = largest + WireLimits.EnvelopeBytes;
        if (!run.Value.Embedded && needed > node.Value.MaxFrameBytes)
            throw new InvalidDataException(
                $"the largest step message, for a batch of {t.BatchSize} images of {Plan.Splits.Shape}, takes {largest:N0} bytes on the wire and {needed:N0} with " +
                $"Akka's envelope, more than the remoting frame of {node.Value.MaxFrameMiB} MiB; lower --batch-size or start every node with --max-frame-mb {needed / (1024 * 1024) + 1}");
        logger.LogInformation("Largest step message {Bytes:N0} bytes; remoting frame {Frame} MiB", largest, node.Value.MaxFrameMiB);

        var kind = run.Value.Embedded ? RunKind.Embedded : RunKind.Cluster;
        Actors.ResumePoint? resume = null;
        if (run.Value.Resume is { } resumeDir)
        {
            CheckResumeSettings(RunDirectory.Open(resumeDir), t, data.Value, optimizer.Value, run.Value.Embedded);
            // One writer per run directory: taken before the checkpoints are read, held until Dispose.
            resumeLock = RunLock.Acquire(resumeDir);
            try
            {
                if (!run.Value.Embedded) node.Value.EnsurePortFree();
                var checkpoints = Path.Combine(Path.GetFullPath(resumeDir), "checkpoints");
                var store = new CheckpointStore(checkpoints, t.KeepCheckpoints);
                var latest = store.LatestGood(bad => logger.LogWarning("Skipping a bad checkpoint: {Reason}", bad))
                             ?? throw new InvalidDataException($"resume: no good checkpoint in '{checkpoints}'; start a new run instead");
                var manifest = CheckpointStore.ReadManifest(latest);
                resume = new Actors.ResumePoint(manifest.Step, manifest.Epoch, manifest.StepInEpoch,
                    manifest.Models.Select(m => new Actors.ResumeModel(m.Id, m.ModelName, m.Seed, m.Slot, CheckpointStore.StateStepOf(manifest, m),
                        File.ReadAllBytes(Path.Combine(latest, m.File)))).ToList());
                Session = RunSession.Resume(kind, Plan, resumeDir, manifest.Step, logger);
                logger.LogInformation("Resuming run {Run} from {Checkpoint}: step {Step}, epoch {Epoch}, models {Models}",
                    Session.Run.Path, Path.GetFileName(latest), manifest.Step, manifest.Epoch + 1, string.Join(", ", manifest.Models.Select(m => m.Id)));
            }
            catch
            {
                resumeLock.Dispose();
                throw;
            }
        }
        else
        {
            // The new run directory holds its lock (RunDirectory.Create) until Dispose.
            Session = RunSession.Create(kind, Plan, logger, more: new Dictionary<string, object> { ["node"] = node.Value, ["run"] = run.Value });
        }
        Settings = run.Value.Settings(run.Value.Embedded ? t.Students : run.Value.MinStudents) with
        {
            Logging = logging,
            ExportDirectory = Session.ExportDirectory,
            CheckpointDirectory = Session.CheckpointDirectory,
            RunId = Session.RunId,
            Resume = resume,
        };
    }

    /// <summary>The run's directory, files, observers and end, as every runner has them.</summary>
    public RunSession Session { get; }
    public ILoggerFactory Logging { get; }
    public TrainingPlan Plan { get; }
    public RunDirectory Run => Session.Run;
    public ITrainingObserver Observer => Session.Observer;
    public Actors.CoordinatorSettings Settings { get; }
    public TaskCompletionSource<CohortResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when the coordinator actor has been created (cluster mode: once this node is up and alone as coordinator).</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed, with why, when this node will not train (another coordinator is already in the cluster).</summary>
    public TaskCompletionSource<string> NotStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The largest message of a step or an evaluation, as the binary serializer writes it: a training or evaluation batch (with
    /// its boxes, bounded by the split's most crowded image), a model's output or predictions (the task's outputs per image:
    /// logits or a detector's dense map), or a student's targets (detection: the teacher's map, the peers' sums and 3 floats
    /// per location, larger than the map), or, under the one-round-trip fold, a student's targets with the next training batch.
    /// Akka's envelope comes on top (<see cref="WireLimits.EnvelopeBytes"/>).
    /// </summary>
    public static long LargestMessageBytes(TrainingPlan plan)
    {
        var task = plan.Task;
        var shape = plan.Splits.Shape;
        int b = plan.Training.BatchSize;
        var batches = new[] { plan.Splits.Train, plan.Splits.Test, plan.Splits.Val }.OfType<IImageDataset>()
            .Select(split => StepMessageSerializer.BatchMessageSize(shape, b, task.BoxFloatsBound(split, b)));
        var outputs = StepMessageSerializer.OutputsMessageSize(LongestModelId, (long)b * task.OutputsPerImage);
        var targets = StepMessageSerializer.TargetsMessageSize(task.TargetFloatsBound(b));
        var fold = targets + StepMessageSerializer.BatchMessageSize(shape, b, task.BoxFloatsBound(plan.Splits.Train, b));
        return batches.Append(outputs).Append(targets).Append(fold).Max();
    }

    /// <summary>A model id at least as long as any a cohort uses (the 64 bytes of slack cover longer ones).</summary>
    private const string LongestModelId = "student-000";

    /// <summary>
    /// Refuses a resume whose training, data or optimizer settings differ from those in the run's config.json
    /// (<see cref="ResumeSettings"/>), naming every difference; nothing in the run is touched.
    /// </summary>
    public static void CheckResumeSettings(RunDirectory run, TrainingOptions training, DataOptions data, OptimizerOptions optimizer, bool embedded)
    {
        var recorded = run.ReadConfiguration()
                       ?? throw new InvalidDataException($"resume: '{run.Path}' has no readable config.json, so it is not a run directory this program wrote; start a new run instead");
        if (ResumeSettings.Differences(recorded, training, data, optimizer, embedded) is { Count: > 0 } differences)
            throw new InvalidDataException(
                $"resume: {differences.Count} setting(s) differ from the run's config.json in '{run.Path}': {string.Join("; ", differences)}. " +
                "Resume with the run's settings (only threads, checkpoint and evaluation cadence, timeouts, ports and other node settings may change), or start a new run.");
    }

    /// <summary>Ends the session, then releases the run directory's lock.</summary>
    public void Dispose()
    {
        Session.Dispose();
        resumeLock?.Dispose();
    }

    private readonly RunLock? resumeLock;
}
