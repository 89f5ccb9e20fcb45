using Akka.Actor;
using Akka.Cluster;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>The coordinator's own settings, beside the training plan.</summary>
/// <param name="ExportDirectory">Where every model's final weights are written at the end (null: not exported).</param>
/// <param name="CheckpointDirectory">Where checkpoints go (null: none).</param>
/// <param name="FrozenAfter">A pulse of the coordinator's own late by this much means it was frozen (null: never assume so).</param>
public sealed record CoordinatorSettings(int MinStudents, TimeSpan StepTimeout, TimeSpan EvalTimeout, TeacherLostPolicy TeacherLost = TeacherLostPolicy.Wait,
    Microsoft.Extensions.Logging.ILoggerFactory? Logging = null, string? ExportDirectory = null, string? CheckpointDirectory = null, string RunId = "run",
    ResumePoint? Resume = null, TimeSpan? FrozenAfter = null)
{
    /// <summary>The default freeze detection of a coordinator process: a pulse (every second) late by 3 s.</summary>
    public static readonly TimeSpan DefaultFrozenAfter = TimeSpan.FromSeconds(3);
}

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
public sealed class CoordinatorActor : UntypedActor, IWithTimers
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
    private readonly Dictionary<(string Node, ModelRole Role, string Model), int> lastSlots = [];
    private readonly List<EvalRecord> evaluations = [];
    private readonly List<ExportedWeights> exports = [];
    private readonly System.Diagnostics.Stopwatch runClock = new();

    private readonly TrainingSchedule schedule;
    private RunPosition position = RunPosition.Start;
    private long lastCheckpointStep;
    private bool started;
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
        if (Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal))
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
            case StepLogits l when state is StepState { Phase: StepPhase.Logits } s && l.Attempt == s.Attempt: OnLogits(s, l); break;
            case StepDone d when state is StepState { Phase: StepPhase.Done } s && d.Attempt == s.Attempt: OnDone(s, d); break;
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
        if (!Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal)) return;
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

    // ---------------------------------------------------------------- membership

    private void OnRegister(RegisterModel r)
    {
        if (state is FinishedState)
        {
            Sender.Tell(new RegistrationRefused("the run has finished"));
            return;
        }
        if (known.TryGetValue(Sender, out var again))
        {
            // A retried registration: the acceptance is on its way (or is sent once its saved state is read).
            if (again.Accepted) Sender.Tell(Acceptance(again.Slot, again.Setup));
            return;
        }
        var why = Refusal(r);
        if (why is not null)
        {
            log.Warning("Refused {0} {1} from {2}: {3}", Name(r.Role), r.ModelName, r.NodeAddress, why);
            Sender.Tell(new RegistrationRefused(why));
            return;
        }
        int slot = ChooseSlot(r);
        var setup = plan.Setup(r.Role, slot, r.ModelName);
        var member = new Member(Sender, r, slot, setup);
        known[Sender] = member;
        Context.Watch(Sender);
        log.Info("Accepted {0} ({1}) from {2}", setup.Id, r.ModelName, r.NodeAddress);

        var savedState = saved.For(setup.Id);
        if (savedState is not null && savedState.Fits(setup, slot))
        {
            // The state is read and its checksum verified off the mailbox; the acceptance follows with it.
            var model = Sender;
            Task.Run(() =>
            {
                try
                {
                    return new RestoreLoaded(model, setup, savedState.Load(), savedState.Step, null);
                }
                catch (Exception e)
                {
                    return new RestoreLoaded(model, setup, null, 0, e.Message);
                }
            }).PipeTo(Self);
            return;
        }
        if (savedState is not null)
            log.Info("The saved state of {0} is a {1} (seed {2}), not this {3} (seed {4}): it starts from fresh weights",
                setup.Id, savedState.ModelName, savedState.Seed, setup.ModelName, setup.Seed);
        member.Accepted = true;
        Sender.Tell(Acceptance(slot, setup));
    }

    /// <summary>
    /// The teacher takes slot 0. A student takes the lowest free slot whose saved state is of its architecture, else the
    /// lowest free slot with no saved state, else the lowest free slot: in a mixed cohort (tiny and mlp students) restarted
    /// in any order, every student finds its own state.
    /// </summary>
    private int ChooseSlot(RegisterModel r)
    {
        if (r.Role == ModelRole.Teacher) return 0;
        var taken = known.Values.Where(m => m.Role == ModelRole.Student).Select(m => m.Slot).ToHashSet();
        // A model dropped and back from the same node (a blip, a pause) takes its own slot again, keeping its id and network.
        if (lastSlots.TryGetValue((r.NodeAddress, r.Role, r.ModelName), out var own) && !taken.Contains(own)) return own;
        var free = Enumerable.Range(1, Math.Max(taken.DefaultIfEmpty().Max(), saved.MaxStudentSlot) + 1).Where(s => !taken.Contains(s)).ToList();
        string? SavedName(int s) => saved.ModelNameOf(TrainingPlan.ModelId(ModelRole.Student, s));
        return free.Where(s => SavedName(s) == r.ModelName).Cast<int?>().FirstOrDefault()
               ?? free.Where(s => SavedName(s) is null).Cast<int?>().FirstOrDefault()
               ?? free[0];
    }

    private void OnRestoreLoaded(RestoreLoaded l)
    {
        if (!known.TryGetValue(l.Model, out var m) || m.Accepted || m.Setup != l.Setup) return;
        m.Accepted = true;
        if (l.State is null)
        {
            log.Warning("Could not read the saved state of {0} ({1}): it starts from fresh weights", m.Id, l.Problem);
            m.Actor.Tell(Acceptance(m.Slot, m.Setup));
            return;
        }
        var parts = Chunks.Split(l.State).ToList();
        m.Actor.Tell(Acceptance(m.Slot, m.Setup) with { RestoreChunks = parts.Count, RestoreStep = l.Step });
        foreach (var (index, count, part) in parts) m.Actor.Tell(new RestoreChunk(m.Id, index, count, part));
        log.Info("{0} gets its state from the checkpoint at step {1}", m.Id, l.Step);
    }

    private RegistrationAccepted Acceptance(int slot, TrainerSetup setup) =>
        new(slot, setup, plan.Data.IsLocal ? new LocalData(plan.Data, plan.Training, plan.Fingerprint) : null);

    private string? Refusal(RegisterModel r)
    {
        var spec = plan.Spec;
        var modelProblem = ModelRegistry.Validate(r.ModelName, spec);
        if (modelProblem is not null) return modelProblem;
        if (r.NumClasses != spec.NumClasses)
            return $"the node's model has {r.NumClasses} classes but the dataset '{plan.Data.Dataset}' has {spec.NumClasses}; start it with --classes {spec.NumClasses}";
        if (r.Channels != spec.Channels || r.Height != spec.Height || r.Width != spec.Width)
            return $"the node's input shape is {r.Channels}x{r.Height}x{r.Width} but the dataset's is {spec.Channels}x{spec.Height}x{spec.Width}; start it with --input-shape {spec.Channels}x{spec.Height}x{spec.Width}";
        if (r.Role == ModelRole.Teacher && known.Values.Any(m => m.Role == ModelRole.Teacher))
            return "the cohort already has a teacher";
        return null;
    }

    private void OnReady(ModelReady ready)
    {
        if (!known.TryGetValue(Sender, out var m) || !m.Accepted || m.Ready) return;
        m.Ready = true;
        log.Info("{0} is ready ({1:N0} parameters); it joins the cohort at the next step boundary", m.Id, ready.Parameters);
        if (state is WaitingState) StartStep();
    }

    /// <summary>
    /// A model leaves (stopped, unreachable, missed a timeout). The state it happens in completes its own phase
    /// without it; when <paramref name="tell"/>, the model is told, so that if it is alive after all it registers again.
    /// </summary>
    private void Depart(IActorRef actor, string why, bool tell)
    {
        if (!known.Remove(actor, out var m)) return;
        Context.Unwatch(actor);
        if (tell) actor.Tell(new DroppedFromCohort(why, m.CountedThrough));
        lastSlots[(m.Registration.NodeAddress, m.Role, m.Registration.ModelName)] = m.Slot;
        bool wasInCohort = cohort.Remove(m);
        log.Warning("{0} left{1} while {2}: {3}; cohort now {4}", m.Id, wasInCohort ? " the cohort" : "", state.Name, why, Describe(cohort));
        GoOnWithout(actor);
    }

    /// <summary>The current state completes its own phase without this model (it left, or its request failed).</summary>
    private void GoOnWithout(IActorRef actor)
    {
        switch (state)
        {
            case StepState s when s.Awaiting.Remove(actor):
                Advance(s);
                break;
            case EvaluatingState e:
                e.Parts.Remove(actor);
                if (e.Awaiting.Remove(actor) && e.Awaiting.Count == 0) CompleteEvaluation(e);
                break;
            case CollectingState c when c.Awaiting.Remove(actor) && c.Awaiting.Count == 0:
                EndCollect(c);
                break;
        }
    }

    /// <summary>At a step boundary: ready models join the cohort.</summary>
    private void AdmitReady()
    {
        foreach (var m in known.Values.Where(m => m.Ready && !cohort.Contains(m)).OrderBy(m => m.Slot).ToList())
        {
            cohort.Add(m);
            log.Info("{0} joined the cohort at step {1}; cohort now {2}", m.Id, position.CompletedSteps + 1, Describe(cohort));
        }
        cohort.Sort((a, b) => a.Slot.CompareTo(b.Slot));
    }

    private void OnStopRequested()
    {
        if (state is FinishedState || stopRequested) return;
        stopRequested = true;
        log.Warning("Stop requested while {0}: a final checkpoint at the next step boundary, then the end", state.Name);
        if (state is WaitingState) StartStep();
    }

    private void OnTimeout()
    {
        switch (state)
        {
            case StepState s:
                foreach (var actor in s.Awaiting.ToList())
                {
                    s.Awaiting.Remove(actor); // first, so that the departure does not advance the step: it advances once, below
                    log.Warning("{0} missed the {1} s step timeout at step {2} and is dropped", IdOf(actor), settings.StepTimeout.TotalSeconds, s.GlobalStep);
                    Depart(actor, "missed the step timeout", tell: true);
                }
                Advance(s);
                break;
            case EvaluatingState e:
                foreach (var actor in e.Awaiting)
                {
                    log.Warning("{0} did not finish the evaluation in {1} s and is left out of it", IdOf(actor), settings.EvalTimeout.TotalSeconds);
                    e.Parts.Remove(actor);
                }
                e.Awaiting.Clear();
                CompleteEvaluation(e);
                break;
            case CollectingState c:
                log.Warning("No model state from {0} within {1} s", string.Join(", ", c.Awaiting.Select(IdOf)), settings.EvalTimeout.TotalSeconds);
                c.Awaiting.Clear();
                EndCollect(c);
                break;
        }
    }

    /// <summary>A model reports that a request failed in it: the phase goes on without it, and it keeps its network.</summary>
    private void OnModelFailed(StepFailed f)
    {
        log.Error("{0} failed while {1}: {2}; going on without it", f.ModelId, state.Name, f.Reason);
        GoOnWithout(Sender);
    }

    // ---------------------------------------------------------------- the step (DESIGN.md §3)

    /// <summary>At a step boundary: ask the policy, then train, wait or stop.</summary>
    private void StartStep()
    {
        AdmitReady();
        var decision = policy.Decide(new CohortView(cohort.Any(m => m.Role == ModelRole.Teacher), cohort.Count(m => m.Role == ModelRole.Student),
            started, stopRequested));
        switch (decision)
        {
            case CohortDecision.Stop:
                if (position.CompletedSteps > lastCheckpointStep) Save(SaveKind.Checkpoint, AfterSave.Stop);
                else Stopped(); // nothing trained since the checkpoint on disk
                return;
            case CohortDecision.Wait w:
                if (state is WaitingState current && current.Why == w.Why) return;
                if (started) log.Warning("Training paused before step {0}: {1}", position.CompletedSteps + 1, w.Why);
                else log.Info("{0}", w.Why);
                GoTo(new WaitingState(w.Why));
                return;
        }
        if (state is WaitingState)
        {
            log.Info("Cohort complete ({0}); training {1} at step {2}", Describe(cohort), position.CompletedSteps == 0 ? "starts" : "resumes", position.CompletedSteps + 1);
            runClock.Start();
        }
        started = true;

        var (epoch, step) = (position.Epoch, position.Step);
        var s = new StepState(NextAttempt(), position.CompletedSteps + 1, epoch, step, plan.TrainBatchSize(epoch, step));
        GoTo(s, settings.StepTimeout);
        // Ship mode sends the batch's pixels; local mode only (epoch, step) and each node builds the batch itself.
        object message = plan.Data.IsLocal
            ? new TrainStepLocal(s.GlobalStep, epoch, step, s.Attempt)
            : new TrainStep(s.GlobalStep, epoch, step, plan.TrainBatch(epoch, step), s.Attempt);
        long size = StepMessageSerializer.WireSize(message);
        foreach (var m in cohort)
        {
            m.Actor.Tell(message);
            s.Awaiting.Add(m.Actor);
            s.BytesSent += size;
        }
    }

    private void OnLogits(StepState s, StepLogits l)
    {
        if (!s.Awaiting.Remove(Sender)) return;
        s.Logits[Sender] = l;
        s.BytesReceived += StepMessageSerializer.WireSize(l);
        Advance(s);
    }

    private void OnDone(StepState s, StepDone d)
    {
        if (!s.Awaiting.Remove(Sender)) return;
        s.Done[Sender] = d;
        s.BytesReceived += StepMessageSerializer.WireSize(d);
        if (!d.Applied)
        {
            Fail($"{d.ModelId}: the loss is not finite at epoch {s.Epoch + 1} step {s.Step + 1} (loss {d.Loss}, CE {d.Ce}, KD {d.Kd}, ML {d.Ml}); the step was refused");
            return;
        }
        Advance(s);
    }

    /// <summary>When nobody is awaited any more: the targets after the logits, the next step after the step-done replies.</summary>
    private void Advance(StepState s)
    {
        if (!ReferenceEquals(state, s) || s.Awaiting.Count > 0) return;
        if (s.Phase == StepPhase.Done && s.Done.Count > 0)
        {
            CompleteStep(s);
            return;
        }
        if (s.Phase == StepPhase.Done)
        {
            // Nobody's step-done reply counted (every model left or failed): the step is not counted, and is run again.
            log.Warning("Training paused at step {0}: no model finished the step; it is run again", s.GlobalStep);
            GoTo(new WaitingState("no model finished the step"));
            StartStep();
            return;
        }
        var teacher = cohort.FirstOrDefault(m => m.Role == ModelRole.Teacher && s.Logits.ContainsKey(m.Actor));
        var students = cohort.Where(m => m.Role == ModelRole.Student && s.Logits.ContainsKey(m.Actor)).ToList();
        if (teacher is null && students.Count == 0)
        {
            log.Warning("Training paused at step {0}: every model left during the step; the step is run again", s.GlobalStep);
            GoTo(new WaitingState("every model left during the step"));
            StartStep();
            return;
        }
        var targets = TargetBuilder.Build(teacher is null ? null : s.Logits[teacher.Actor].Logits, students.Select(m => s.Logits[m.Actor].Logits).ToList(),
            s.BatchSize, plan.Spec.NumClasses, plan.Training.Distillation);
        s.Phase = StepPhase.Done;
        Timers.StartSingleTimer(TimerKey, new PhaseTimeout(s.Attempt), settings.StepTimeout);
        if (teacher is not null) Send(teacher, new ApplyTargets(s.GlobalStep, DistillTargets.None, s.Attempt));
        for (int i = 0; i < students.Count; i++) Send(students[i], new ApplyTargets(s.GlobalStep, targets[i], s.Attempt));

        void Send(Member m, ApplyTargets message)
        {
            m.Actor.Tell(message);
            s.Awaiting.Add(m.Actor);
            s.BytesSent += StepMessageSerializer.WireSize(message);
        }
    }

    private void CompleteStep(StepState s)
    {
        Timers.Cancel(TimerKey);
        foreach (var m in cohort.Where(m => s.Done.ContainsKey(m.Actor))) m.CountedThrough = s.GlobalStep;
        var records = cohort.Where(m => s.Done.ContainsKey(m.Actor)).Select(m =>
        {
            var d = s.Done[m.Actor];
            var compute = d.ComputeMs + (s.Logits.TryGetValue(m.Actor, out var l) ? l.ComputeMs : 0);
            return new ModelStepRecord(m.Id, m.Role, new LossParts(d.Loss, d.Ce, d.Kd, d.Ml), d.BatchAccuracy, d.LearningRate, compute);
        }).ToList();
        var record = new StepRecord(s.Epoch, s.Step, s.GlobalStep, plan.StepsPerEpoch, s.BatchSize, s.Clock.Elapsed.TotalSeconds, records, s.BytesSent, s.BytesReceived);
        var after = schedule.After(position);
        position = after.Next;
        if (!Observe(() => observer.OnStep(record), "the step metrics")) return;
        if (log.IsDebugEnabled)
            log.Debug("step {0}: {1:F1} ms, coordination {2:F1} ms, {3:N0} bytes sent, {4:N0} received", position.CompletedSteps, record.Seconds * 1000, record.CoordinationMs,
                s.BytesSent, s.BytesReceived);

        if (after.EndedEpoch is int ended)
        {
            if (after.Evaluate) StartEvaluation(ended);
            else Save(SaveKind.Checkpoint, AfterSave.EndOfEpoch);
        }
        else if (after.Checkpoint) Save(SaveKind.Checkpoint, AfterSave.NextStep);
        else StartStep();
    }

    // ---------------------------------------------------------------- evaluation (DESIGN.md §5)

    private void StartEvaluation(int finishedEpoch)
    {
        var e = new EvaluatingState(NextAttempt(), finishedEpoch, cohort.ToDictionary(m => m.Actor, _ => new float[]?[plan.TestBatchCount]));
        GoTo(e, settings.EvalTimeout);
        if (plan.Data.IsLocal)
        {
            foreach (var m in cohort) m.Actor.Tell(new EvaluateLocal(e.Attempt));
        }
        else
        {
            int i = 0;
            foreach (var testBatch in plan.TestBatches())
            {
                var message = new EvaluateBatch(e.Attempt, i++, testBatch);
                foreach (var m in cohort) m.Actor.Tell(message);
            }
        }
        if (e.Awaiting.Count == 0) CompleteEvaluation(e);
    }

    private void OnProbabilities(EvaluatingState e, EvalProbabilities p)
    {
        if (!e.Awaiting.Contains(Sender) || !e.Parts.TryGetValue(Sender, out var parts) || p.Index < 0 || p.Index >= parts.Length) return;
        parts[p.Index] = p.Probabilities;
        if (parts.Any(x => x is null)) return;
        e.Awaiting.Remove(Sender);
        if (e.Awaiting.Count == 0) CompleteEvaluation(e);
    }

    private void CompleteEvaluation(EvaluatingState e)
    {
        if (!ReferenceEquals(state, e)) return;
        Timers.Cancel(TimerKey);
        var models = cohort.Where(m => e.Parts.TryGetValue(m.Actor, out var parts) && parts.All(x => x is not null))
            .Select(m => (m.Id, m.Role, e.Parts[m.Actor].SelectMany(x => x!).ToArray())).ToList();
        if (models.Count > 0)
        {
            var evaluation = Evaluation.Combine(e.Epoch, position.CompletedSteps, models, plan.TestLabels(), plan.Spec.NumClasses);
            evaluations.Add(evaluation);
            if (!Observe(() => observer.OnEvaluation(evaluation), "the evaluation metrics")) return;
        }
        else log.Warning("No model finished the evaluation of epoch {0}", e.Epoch + 1);
        Save(SaveKind.Checkpoint, AfterSave.EndOfEpoch);
    }

    // ---------------------------------------------------------------- checkpoints and the export

    /// <summary>Collects every cohort model's state (or weights, for the export), then writes it off the mailbox.</summary>
    private void Save(SaveKind kind, AfterSave then)
    {
        var directory = kind == SaveKind.Checkpoint ? settings.CheckpointDirectory : settings.ExportDirectory;
        if (directory is null || cohort.Count == 0)
        {
            Continue(then);
            return;
        }
        var c = new CollectingState(NextAttempt(), kind, then, cohort.Select(m => m.Actor).ToList());
        GoTo(c, settings.EvalTimeout);
        foreach (var m in cohort) m.Actor.Tell(new ExportWeights(c.Attempt, kind == SaveKind.Checkpoint));
    }

    private void OnChunk(CollectingState s, WeightsChunk c)
    {
        if (!s.Awaiting.Contains(Sender) || !s.Parts.TryGetValue(Sender, out var parts) || !parts.TryAdd(c.Index, c.Count, c.Data, out var whole)
            || whole is null || !known.TryGetValue(Sender, out var m)) return;
        s.Collected.Add((m, whole));
        s.Awaiting.Remove(Sender);
        if (s.Awaiting.Count == 0) EndCollect(s);
    }

    private void EndCollect(CollectingState c)
    {
        if (!ReferenceEquals(state, c)) return;
        if (c.Collected.Count == 0)
        {
            log.Warning("Nothing collected for the {0}: nothing written", c.Kind == SaveKind.Checkpoint ? "checkpoint" : "export");
            Continue(c.Then);
            return;
        }
        var w = new WritingState(NextAttempt(), c.Kind, c.Then);
        GoTo(w);
        var collected = c.Collected.OrderBy(x => x.Member.Slot).Select(x => (x.Member.Setup, x.Member.Slot, x.Bytes)).ToList();
        long attempt = w.Attempt;
        if (c.Kind == SaveKind.Checkpoint)
        {
            var store = new CheckpointStore(settings.CheckpointDirectory!, plan.Training.KeepCheckpoints);
            var (runId, at, ep, st) = (settings.RunId, position.CompletedSteps, position.Epoch, position.Step);
            Task.Run(() =>
            {
                try
                {
                    var path = store.Write(runId, at, ep, st, collected, carryOverAbsent: true);
                    return new SaveFinished(attempt, path, CheckpointStore.ReadManifest(path), [], null);
                }
                catch (Exception e)
                {
                    return new SaveFinished(attempt, null, null, [], $"checkpoint at step {at} in '{store.Directory}': {e.Message}");
                }
            }).PipeTo(Self);
        }
        else
        {
            var directory = settings.ExportDirectory!;
            Task.Run(() =>
            {
                try
                {
                    Directory.CreateDirectory(directory);
                    var written = new List<ExportedWeights>();
                    foreach (var (setup, _, bytes) in collected)
                    {
                        var path = Path.Combine(directory, setup.Id + ".dat");
                        AtomicFile.Write(path, tmp => File.WriteAllBytes(tmp, bytes));
                        written.Add(new ExportedWeights(setup, path));
                    }
                    return new SaveFinished(attempt, directory, null, written, null);
                }
                catch (Exception e)
                {
                    return new SaveFinished(attempt, null, null, [], $"export to '{directory}': {e.Message}");
                }
            }).PipeTo(Self);
        }
    }

    private void OnSaved(WritingState w, SaveFinished f)
    {
        if (f.Error is not null)
        {
            Fail($"could not write the {f.Error}; the last good checkpoint on disk is kept");
            return;
        }
        if (w.Kind == SaveKind.Checkpoint)
        {
            lastCheckpointStep = position.CompletedSteps;
            saved.Update(f.Path!, f.Manifest!);
            log.Info("Checkpoint at step {0}: {1} models in {2}", position.CompletedSteps, f.Manifest!.Models.Count, f.Path!);
        }
        else exports.AddRange(f.Exports);
        Continue(w.Then);
    }

    /// <summary>What follows a checkpoint or the export (or its skipping): declared by <see cref="AfterSave"/>.</summary>
    private void Continue(AfterSave then)
    {
        switch (then)
        {
            case AfterSave.NextStep:
                StartStep();
                break;
            case AfterSave.EndOfEpoch when schedule.IsOver(position):
                Finish();
                break;
            case AfterSave.EndOfEpoch when stopRequested:
                Stopped(); // the epoch's checkpoint was just written
                break;
            case AfterSave.EndOfEpoch:
                StartStep();
                break;
            case AfterSave.Stop:
                Stopped();
                break;
            case AfterSave.Complete:
                Complete();
                break;
        }
    }

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
        return new CohortResult(evaluations.ToList(), position.CompletedSteps, seconds,
            seconds > 0 ? position.CompletedSteps * (double)plan.Training.BatchSize / seconds : 0, completed, reason, exports.ToList(), failed);
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
