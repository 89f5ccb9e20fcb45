using Akka.Actor;
using Akka.Cluster;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>The coordinator's own settings, beside the training plan.</summary>
/// <param name="ExportDirectory">Where every model's final weights are written at the end (null: not exported).</param>
/// <param name="CheckpointDirectory">Where checkpoints go (null: none).</param>
/// <param name="FrozenAfter">A pulse of the coordinator's own late by this much means it was frozen (null: never assume so).</param>
public sealed record CoordinatorSettings(int MinStudents, TimeSpan StepTimeout, TimeSpan EvalTimeout, TeacherLostPolicy TeacherLost = TeacherLostPolicy.Wait,
    Microsoft.Extensions.Logging.ILoggerFactory? Logging = null, string? ExportDirectory = null, string? CheckpointDirectory = null, string RunId = "run",
    ResumePoint? Resume = null, TimeSpan? FrozenAfter = null, StepProtocol Protocol = StepProtocol.Folded, int TeacherLookahead = CoordinatorSettings.DefaultTeacherLookahead)
{
    /// <summary>The teacher's run-ahead by default (issue 14, measured in docs/benchmarks.md).</summary>
    public const int DefaultTeacherLookahead = 2;

    /// <summary>The most steps the teacher may run ahead: each is an undo copy of its weights and optimizer state.</summary>
    public const int MaxTeacherLookahead = 8;

    /// <summary>The default freeze detection of a coordinator process: a pulse (every second) late by 3 s.</summary>
    public static readonly TimeSpan DefaultFrozenAfter = TimeSpan.FromSeconds(3);
}

/// <summary>How the coordinator runs a step (issue 14; docs/design/step-protocol.md). Written folded or classic.</summary>
[System.ComponentModel.TypeConverter(typeof(StepProtocolConverter))]
public enum StepProtocol
{
    /// <summary>Two round trips per step: every model gets the batch and answers its output, then its targets and answers step-done.</summary>
    Classic,
    /// <summary>
    /// The teacher trains the whole step on the batch (its fast path), and a student's targets travel with the next step's
    /// batch: one round trip per step. The same math as <see cref="Classic"/>.
    /// </summary>
    Folded,
}

public sealed class StepProtocolConverter() : P2PDistill.Shared.Settings.SettingEnumConverter<StepProtocol>(
    (StepProtocol.Folded, "folded", []), (StepProtocol.Classic, "classic", []));

/// <summary>
/// Drives the cohort through DESIGN.md §3, one step at a time, as an explicit state machine (the shape of Ray Train's
/// controller; the states and their data are in <c>CoordinatorStates.cs</c>):
/// <code>
///   Waiting ──▶ Step ──▶ Step … ──▶ Evaluating ──▶ Collecting ──▶ Writing ──▶ Step | Collecting (export) | Finished
///      ▲          │ (every model left, teacher lost)                 ▲             │
///      └──────────┘                                    Step (--checkpoint-every) ─┘
/// </code>
/// Every request carries the state's attempt id and only a reply with that id, from a model the state waits for, counts.
/// A departure, a timeout, a failure report or a stop request is handled by the state it happens in; the decisions to
/// train, pause or stop come from <see cref="CohortPolicy"/>. Checkpoint and export files are written off the mailbox.
/// </summary>
public sealed partial class CoordinatorActor : UntypedActor, IWithTimers
{
    /// <summary>Host → coordinator on Ctrl+C / SIGTERM: stop at the next step boundary after a final checkpoint.</summary>
    public sealed record StopRequested
    {
        public static StopRequested Instance { get; } = new();
    }

    /// <summary>Every transition the coordinator may take, in one place; any other is a bug and fails the run clearly.</summary>
    private static readonly Dictionary<Type, Type[]> Transitions = new()
    {
        [typeof(WaitingState)] = [typeof(WaitingState), typeof(StepState), typeof(CollectingState), typeof(FinishedState)],
        [typeof(StepState)] = [typeof(StepState), typeof(WaitingState), typeof(EvaluatingState), typeof(CollectingState), typeof(FinishedState)],
        [typeof(EvaluatingState)] = [typeof(StepState), typeof(WaitingState), typeof(CollectingState), typeof(FinishedState)],
        [typeof(CollectingState)] = [typeof(WritingState), typeof(StepState), typeof(WaitingState), typeof(CollectingState), typeof(FinishedState)],
        [typeof(WritingState)] = [typeof(StepState), typeof(WaitingState), typeof(CollectingState), typeof(FinishedState)],
        [typeof(FinishedState)] = [],
    };

    private const string TimerKey = "phase";

    /// <summary>The coordinator's pulse; one late by more than <see cref="CoordinatorSettings.FrozenAfter"/> means this process did not run.</summary>
    private static readonly TimeSpan PulseEvery = TimeSpan.FromSeconds(1);

    /// <summary>After its own freeze, how long the coordinator waits for models that look unreachable or late.</summary>
    public static readonly TimeSpan FreezeGrace = TimeSpan.FromSeconds(15);

    private readonly TrainingPlan plan;
    private readonly CoordinatorSettings settings;
    private readonly ITrainingObserver observer;
    private readonly TaskCompletionSource<CohortResult> completion;
    private readonly ActorLog log;
    private readonly CohortPolicy policy;
    private readonly Dictionary<IActorRef, Member> known = [];
    private readonly List<Member> cohort = [];
    private readonly SavedStates saved;
    /// <summary>The slot each departed model had, by node, actor path (a node may host several model actors), role and architecture.</summary>
    private readonly Dictionary<(string Node, string Actor, ModelRole Role, string Model), int> lastSlots = [];
    private readonly List<EvalRecord> evaluations = [];
    private readonly List<ExportedWeights> exports = [];
    private readonly System.Diagnostics.Stopwatch runClock = new();

    private readonly TrainingSchedule schedule;
    private RunPosition position = RunPosition.Start;
    private long lastCheckpointStep;
    private bool started;
    /// <summary>Whether this actor system runs Akka.Cluster (the programs and cluster tests) rather than one process alone (embedded runner, TestKit specs).</summary>
    private bool InCluster => Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal);
    /// <summary>Nodes whose models registered before the node was up in this coordinator's view (logged once each).</summary>
    private readonly HashSet<Address> waitingForUp = [];
    private bool stopRequested;
    private long attempts;
    private readonly System.Diagnostics.Stopwatch sincePulse = System.Diagnostics.Stopwatch.StartNew();
    private readonly System.Diagnostics.Stopwatch alive = System.Diagnostics.Stopwatch.StartNew();
    private TimeSpan graceUntil = TimeSpan.MinValue;
    private CoordinatorState state = new WaitingState("starting");

    public CoordinatorActor(TrainingPlan plan, CoordinatorSettings settings, ITrainingObserver observer, TaskCompletionSource<CohortResult> completion)
    {
        this.plan = plan;
        this.settings = settings;
        this.observer = observer;
        this.completion = completion;
        log = ActorLog.For(Context, settings.Logging, "P2PDistill.Coordinator");
        policy = new CohortPolicy(settings.MinStudents, settings.TeacherLost);
        saved = SavedStates.From(settings.Resume);
        schedule = new TrainingSchedule(plan);
        if (settings.Resume is { } resume)
            (position, lastCheckpointStep) = (new RunPosition(resume.Epoch, resume.StepInEpoch, resume.Step), resume.Step);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TrainingPlan plan, CoordinatorSettings settings, ITrainingObserver observer, TaskCompletionSource<CohortResult> completion) =>
        Akka.Actor.Props.Create(() => new CoordinatorActor(plan, settings, observer, completion));

    protected override void PreStart()
    {
        if (InCluster)
            Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.UnreachableMember));
        Timers.StartPeriodicTimer(nameof(Pulse), Pulse.Instance, PulseEvery);
        log.Info("Waiting for a teacher and {0} student(s); dataset {1} {2}, {3} classes; {4} steps per epoch, {5} epoch(s)",
            settings.MinStudents, plan.Data.Dataset, plan.Splits.Shape, plan.Splits.NumClasses, plan.StepsPerEpoch, plan.Training.Epochs);
    }

    protected override void PostStop()
    {
        if (state is not FinishedState)
        {
            TellEveryone(new TrainingFinished(false, "the coordinator stopped"));
            completion.TrySetResult(Result(false, "the coordinator stopped", failed: true));
        }
    }

    /// <summary>
    /// Supervision of the coordinator itself: an exception in any handler (a bug, a malformed reply that slipped
    /// through) ends the run as a failure that says what happened, with the peers told, instead of a silent restart
    /// that would forget the cohort and the step counters.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e) when (state is not FinishedState)
        {
            Fail($"internal error while {state.Name} handling {message.GetType().Name}: {e.GetType().Name}: {e.Message}");
            return true;
        }
    }

    // ---------------------------------------------------------------- dispatch: every message, every state

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            // Membership, in every state.
            case RegisterModel r: OnRegister(r); break;
            case RestoreLoaded l: OnRestoreLoaded(l); break;
            case ModelReady ready: OnReady(ready); break;
            case Terminated t: Depart(t.ActorRef, "it stopped", tell: false); break;
            case Pulse: JustThawed(); break;
            case FreezeGraceOver: DropStillUnreachable(); break;
            case ClusterEvent.UnreachableMember u when JustThawed():
                log.Warning("Node {0} looks unreachable right after this coordinator was frozen: it has {1} s to come back", u.Member.Address, FreezeGrace.TotalSeconds);
                break;
            case ClusterEvent.UnreachableMember u:
                foreach (var m in known.Values.Where(m => m.Actor.Path.Address.Equals(u.Member.Address)).ToList())
                    Depart(m.Actor, $"node {u.Member.Address} is unreachable", tell: true);
                break;
            case PhaseTimeout t when t.Attempt == state.Attempt && JustThawed():
                log.Warning("The deadline of {0} passed while this coordinator was frozen: the models get {1} s more", state.Name, FreezeGrace.TotalSeconds);
                Timers.StartSingleTimer(TimerKey, t, FreezeGrace);
                break;
            case StopRequested: OnStopRequested(); break;

            // Replies: only the state that asked, with its attempt id.
            case PhaseTimeout t when t.Attempt == state.Attempt: OnTimeout(); break;
            case StepLogits l when state is StepState s && s.For(l.Attempt) is { } target: OnLogits(target, l); break;
            case StepDone d when state is StepState s && s.For(d.Attempt) is { } target: OnDone(target, d); break;
            case StepFailed f when state is StepState s && s.Next?.For(f.Attempt) is { } later: OnNextFailed(later, f); break;
            case EvalProbabilities p when state is EvaluatingState e && p.EvalId == e.Attempt: OnProbabilities(e, p); break;
            case WeightsChunk c when state is CollectingState s && c.ExportId == s.Attempt: OnChunk(s, c); break;
            case StepFailed f when f.Attempt == state.Attempt && state is not (WaitingState or WritingState or FinishedState): OnModelFailed(f); break;
            case SaveFinished f when state is WritingState w && f.Attempt == w.Attempt: OnSaved(w, f); break;
            case PhaseTimeout or StepLogits or StepDone or EvalProbabilities or WeightsChunk or StepFailed or SaveFinished:
                log.Debug("Ignoring a stale {0} while {1}", message.GetType().Name, state.Name);
                break;
            default: Unhandled(message); break;
        }
    }

    /// <summary>
    /// Whether this coordinator was itself frozen a moment ago (a long GC pause, a stalled VM, SIGSTOP): then its own
    /// failure detector and timers wrong the models, which were running all along. Detected by a late pulse; opens a
    /// grace of <see cref="FreezeGrace"/> in which unreachable or late models are waited for instead of dropped.
    /// </summary>
    private bool JustThawed()
    {
        var gap = sincePulse.Elapsed;
        sincePulse.Restart();
        if (settings.FrozenAfter is not { } frozenAfter) return false;
        if (gap > frozenAfter)
        {
            graceUntil = alive.Elapsed + FreezeGrace;
            log.Warning("This coordinator did not run for {0:F1} s (a GC pause, a stalled machine, SIGSTOP): models that look unreachable or late get {1} s before they are dropped",
                gap.TotalSeconds, FreezeGrace.TotalSeconds);
            Timers.StartSingleTimer(nameof(FreezeGraceOver), FreezeGraceOver.Instance, FreezeGrace);
        }
        return alive.Elapsed < graceUntil;
    }

    /// <summary>The grace after a freeze is over: a model whose node is still unreachable leaves now.</summary>
    private void DropStillUnreachable()
    {
        if (!InCluster) return;
        var unreachable = Cluster.Get(Context.System).State.Unreachable.Select(m => m.Address).ToHashSet();
        foreach (var m in known.Values.Where(m => unreachable.Contains(m.Actor.Path.Address)).ToList())
            Depart(m.Actor, $"node {m.Actor.Path.Address} stayed unreachable after this coordinator's freeze", tell: true);
    }

    private void GoTo(CoordinatorState next, TimeSpan? timeout = null)
    {
        if (!Transitions[state.GetType()].Contains(next.GetType()))
            throw new InvalidOperationException($"no transition from {state.Name} to {next.Name}");
        Timers.Cancel(TimerKey);
        log.Debug("{0} → {1}", state.Name, next.Name);
        state = next;
        if (timeout is { } t) Timers.StartSingleTimer(TimerKey, new PhaseTimeout(next.Attempt), t);
    }

    private long NextAttempt() => ++attempts;

    // ---------------------------------------------------------------- ending

    private void Finish()
    {
        log.Info("Training finished: {0} steps in {1:F1} s", position.CompletedSteps, runClock.Elapsed.TotalSeconds);
        runClock.Stop();
        Save(SaveKind.Export, AfterSave.Complete);
    }

    /// <summary>Ends a run stopped on request: not completed, but cleanly, with its last checkpoint on disk.</summary>
    private void Stopped() => End(Result(false, $"stopped on request after step {position.CompletedSteps}"), new TrainingFinished(false, "the coordinator was stopped"));

    private void Complete() => End(Result(true, null), new TrainingFinished(true, null));

    private void Fail(string reason)
    {
        if (state is FinishedState) return;
        log.Error("Training stopped: {0}", reason);
        End(Result(false, reason, failed: true), new TrainingFinished(false, reason));
    }

    private void End(CohortResult result, TrainingFinished told)
    {
        runClock.Stop();
        GoTo(new FinishedState(result.Completed ? "completed" : result.StopReason ?? "stopped"));
        TellEveryone(told); // before the result: whoever waits on it finds every model told
        completion.TrySetResult(result);
    }

    /// <summary>Runs an observer (metrics files, plots): if it cannot write, the run fails clearly instead of crashing the coordinator.</summary>
    private bool Observe(Action write, string what)
    {
        try
        {
            write();
            return true;
        }
        catch (Exception e)
        {
            Fail($"could not write {what}: {e.Message}");
            return false;
        }
    }

    private void TellEveryone(TrainingFinished message)
    {
        foreach (var m in known.Values)
        {
            Context.Unwatch(m.Actor);
            m.Actor.Tell(message with { CountedThrough = m.CountedThrough });
        }
    }

    private CohortResult Result(bool completed, string? reason, bool failed = false)
    {
        var seconds = runClock.Elapsed.TotalSeconds;
        // The clock runs for this process only: after a resume, the rate counts the steps trained since the checkpoint.
        long trainedHere = position.CompletedSteps - (settings.Resume?.Step ?? 0);
        return new CohortResult(evaluations.ToList(), position.CompletedSteps, seconds,
            seconds > 0 ? Math.Max(0, trainedHere) * (double)plan.Training.BatchSize / seconds : 0, completed, reason, exports.ToList(), failed);
    }

    private string IdOf(IActorRef actor) => known.TryGetValue(actor, out var m) ? m.Id : actor.Path.ToString();

    private static string Describe(IEnumerable<Member> members)
    {
        var list = members.ToList();
        var teacher = list.Any(m => m.Role == ModelRole.Teacher) ? "teacher" : "no teacher";
        return $"{teacher} + {list.Count(m => m.Role == ModelRole.Student)} student(s)";
    }

    private static string Name(ModelRole role) => role == ModelRole.Teacher ? "teacher" : "student";
}
