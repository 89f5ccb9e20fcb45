using System.Diagnostics;
using Akka.Actor;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>A model admitted by the coordinator: its actor, its slot, and the setup it trains with.</summary>
internal sealed class Member(IActorRef actor, RegisterModel registration, int slot, TrainerSetup setup)
{
    public IActorRef Actor { get; } = actor;
    public RegisterModel Registration { get; } = registration;
    public int Slot { get; } = slot;
    public TrainerSetup Setup { get; } = setup;
    public string Id => Setup.Id;
    public ModelRole Role => Setup.Role;

    /// <summary>The acceptance was sent (after its checkpointed state, if any, was read off the mailbox).</summary>
    public bool Accepted { get; set; }

    /// <summary>It built its network and said so: it joins the cohort at the next step boundary.</summary>
    public bool Ready { get; set; }

    /// <summary>The last step counted for it (its row written): told on a drop and at the end, so it applies exactly the counted steps.</summary>
    public long CountedThrough { get; set; }
}

/// <summary>What the coordinator does once a checkpoint or export is on disk: declared, never a stored lambda.</summary>
internal enum AfterSave
{
    /// <summary>A mid-epoch checkpoint (<c>--checkpoint-every</c>): the next step.</summary>
    NextStep,
    /// <summary>The end-of-epoch checkpoint: the next epoch, the export at the end of the run, or a requested stop.</summary>
    EndOfEpoch,
    /// <summary>The final checkpoint of a stop request: the run ends, stopped.</summary>
    Stop,
    /// <summary>The final export: the run ends, completed.</summary>
    Complete,
}

internal enum SaveKind { Checkpoint, Export }

internal enum StepPhase { Logits, Done }

/// <summary>
/// The coordinator's states (DESIGN.md §3, the shape of Ray Train's controller states): each owns only its own data,
/// and every request it sends carries its <see cref="Attempt"/>, which the replies echo.
/// </summary>
internal abstract class CoordinatorState(long attempt)
{
    public long Attempt { get; } = attempt;
    public abstract string Name { get; }
}

/// <summary>Waiting for the cohort to be complete: before the first step, or paused (teacher lost, no student left).</summary>
internal sealed class WaitingState(string why) : CoordinatorState(0)
{
    public string Why { get; } = why;
    public override string Name => "waiting";
}

/// <summary>
/// One training step: the logits gather, then the step-done gather. Under the fold (issue 14) the next step is requested
/// together with this step's targets: it is <see cref="Next"/>, gathering its logits (and the teacher's step-done) while this
/// step gathers its step-done replies, and it becomes the state when this one completes.
/// </summary>
internal sealed class StepState(long attempt, long globalStep, int epoch, int step, int batchSize) : CoordinatorState(attempt)
{
    public override string Name => $"step {GlobalStep} ({Phase})";
    public long GlobalStep { get; } = globalStep;
    public int Epoch { get; } = epoch;
    public int Step { get; } = step;
    public int BatchSize { get; } = batchSize;
    public StepPhase Phase { get; set; } = StepPhase.Logits;

    /// <summary>Models whose logits this step still waits for.</summary>
    public HashSet<IActorRef> AwaitingLogits { get; } = [];

    /// <summary>Models whose step-done reply this step still waits for (the teacher's comes with its logits on the fast path).</summary>
    public HashSet<IActorRef> AwaitingDone { get; } = [];

    public Dictionary<IActorRef, StepLogits> Logits { get; } = [];
    public Dictionary<IActorRef, StepDone> Done { get; } = [];

    /// <summary>
    /// The fold: the next step, already requested with this step's targets (null: the next step starts at the boundary). Under
    /// the teacher's run-ahead it may be a step only the teacher was asked for yet, and it may have a next step of its own.
    /// </summary>
    public StepState? Next { get; set; }

    /// <summary>Whether the teacher was asked for this step (at its start, at the fold before it, or ahead).</summary>
    public bool TeacherRequested { get; set; }

    /// <summary>The step's first-half request (one object for every model: its batch is built and encoded once), once made.</summary>
    public IStepMessage? Request { get; set; }

    /// <summary>The steps requested after this one, nearest first (the folded next step, then the teacher's run-ahead).</summary>
    public IEnumerable<StepState> Later()
    {
        for (var s = Next; s is not null; s = s.Next) yield return s;
    }

    public long BytesSent { get; set; }
    public long BytesReceived { get; set; }
    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public bool IsAwaiting(IActorRef model) => AwaitingLogits.Contains(model) || AwaitingDone.Contains(model);

    /// <summary>This step no longer waits for the model; whether it did.</summary>
    public bool Forget(IActorRef model) => AwaitingLogits.Remove(model) | AwaitingDone.Remove(model);

    /// <summary>The state a reply with this attempt id belongs to: this step, a step requested after it, or none.</summary>
    public StepState? For(long attempt) => attempt == Attempt ? this : Later().FirstOrDefault(s => s.Attempt == attempt);
}

/// <summary>Every cohort model predicts the test split; the parts come back batch by batch.</summary>
internal sealed class EvaluatingState(long attempt, int epoch, Dictionary<IActorRef, float[]?[]> parts) : CoordinatorState(attempt)
{
    public override string Name => $"evaluating epoch {Epoch + 1}";
    public int Epoch { get; } = epoch;
    public Dictionary<IActorRef, float[]?[]> Parts { get; } = parts;
    public HashSet<IActorRef> Awaiting { get; } = [.. parts.Keys];
}

/// <summary>Every cohort model sends its state (a checkpoint) or its weights (the export), in chunks.</summary>
/// <param name="partBytes">The largest chunk a model sends (<c>WireLimits.ChunkBytes</c>, the same on every node): larger ones are refused.</param>
internal sealed class CollectingState(long attempt, SaveKind kind, AfterSave then, IEnumerable<IActorRef> models, int partBytes) : CoordinatorState(attempt)
{
    public override string Name => Kind == SaveKind.Checkpoint ? "collecting a checkpoint" : "collecting the export";
    public SaveKind Kind { get; } = kind;
    public AfterSave Then { get; } = then;
    public Dictionary<IActorRef, ChunkAssembler> Parts { get; } = models.ToDictionary(m => m, _ => new ChunkAssembler(partBytes: partBytes));
    public HashSet<IActorRef> Awaiting { get; } = [.. models];
    public List<(Member Member, byte[] Bytes)> Collected { get; } = [];
}

/// <summary>The collected states are being written (hashing included) off the coordinator's mailbox.</summary>
internal sealed class WritingState(long attempt, SaveKind kind, AfterSave then) : CoordinatorState(attempt)
{
    public override string Name => Kind == SaveKind.Checkpoint ? "writing a checkpoint" : "writing the export";
    public SaveKind Kind { get; } = kind;
    public AfterSave Then { get; } = then;
}

/// <summary>The run is over (completed, stopped or failed); registrations are refused.</summary>
internal sealed class FinishedState(string how) : CoordinatorState(0)
{
    public override string Name => "finished";
    public string How { get; } = how;
}

// ---------------------------------------------------------------- the coordinator's own messages

/// <summary>The coordinator's own pulse, every second: a late one means the coordinator itself was frozen.</summary>
internal sealed record Pulse
{
    public static Pulse Instance { get; } = new();
}

/// <summary>The grace after the coordinator's own freeze is over: models still unreachable leave now.</summary>
internal sealed record FreezeGraceOver
{
    public static FreezeGraceOver Instance { get; } = new();
}

/// <summary>A state's deadline passed (step timeout, evaluation or collection timeout).</summary>
internal sealed record PhaseTimeout(long Attempt);

/// <summary>A checkpoint or export write finished off the mailbox: <paramref name="Error"/> is null on success.</summary>
internal sealed record SaveFinished(long Attempt, string? Path, CheckpointManifest? Manifest, IReadOnlyList<ExportedWeights> Exports, string? Error,
    IReadOnlyList<string>? Warnings = null);

/// <summary>A model's checkpointed state was read (and its checksum verified) off the mailbox: null when it could not be.</summary>
internal sealed record RestoreLoaded(IActorRef Model, TrainerSetup Setup, byte[]? State, long Step, string? Problem);
