using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>What to do when the teacher is lost mid-run (DESIGN.md §6).</summary>
public enum TeacherLostPolicy
{
    /// <summary>Pause until a teacher registers again.</summary>
    Wait,
    /// <summary>Go on with the students, mutual learning only.</summary>
    ContinueMl,
}

/// <summary>The coordinator's own settings, beside the training plan.</summary>
/// <param name="ExportDirectory">Where every model's final weights are written at the end (null: not exported).</param>
/// <summary>Where a resumed run starts: the checkpoint's position and every model's saved state by model id.</summary>
public sealed record ResumePoint(long Step, int Epoch, int StepInEpoch, IReadOnlyDictionary<string, byte[]> States);

/// <param name="CheckpointDirectory">Where checkpoints go (null: none).</param>
public sealed record CoordinatorSettings(int MinStudents, TimeSpan StepTimeout, TimeSpan EvalTimeout, TeacherLostPolicy TeacherLost = TeacherLostPolicy.Wait,
    Microsoft.Extensions.Logging.ILoggerFactory? Logging = null, string? ExportDirectory = null, string? CheckpointDirectory = null, string RunId = "run",
    ResumePoint? Resume = null);

/// <summary>
/// Drives the cohort through DESIGN.md §3, one step at a time. An explicit state machine:
/// <c>WaitingForMembers → Training ⇄ Evaluating → Finished | Failed</c>. Registration, admission at step
/// boundaries and departures are handled in every state; the step protocol is all in this file.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    private sealed class Member(IActorRef actor, RegisterModel registration, int slot, TrainerSetup setup)
    {
        public IActorRef Actor { get; } = actor;
        public RegisterModel Registration { get; } = registration;
        public int Slot { get; } = slot;
        public TrainerSetup Setup { get; } = setup;
        public string Id => Setup.Id;
        public ModelRole Role => Setup.Role;
        public bool Ready { get; set; }
    }

    private sealed record NextStep
    {
        public static NextStep Instance { get; } = new();
    }

    private sealed record PhaseTimeout(long Id);

    /// <summary>Host → coordinator on Ctrl+C / SIGTERM: stop at the next step boundary after a final checkpoint.</summary>
    public sealed record StopRequested
    {
        public static StopRequested Instance { get; } = new();
    }

    private bool stopRequested;

    /// <summary>Resume: checkpointed states not yet handed to a model; handed out until training restarts.</summary>
    private Dictionary<string, byte[]> pendingRestore = [];

    private enum Phase { Logits, Done }

    private readonly TrainingPlan plan;
    private readonly CoordinatorSettings settings;
    private readonly ITrainingObserver observer;
    private readonly TaskCompletionSource<CohortResult> completion;
    private readonly ActorLog log;
    private readonly DistillationSettings distillation;
    private readonly Dictionary<IActorRef, Member> known = [];
    private readonly List<Member> cohort = [];
    private readonly List<EvalRecord> evaluations = [];
    private readonly Stopwatch runClock = new();

    // The step under way.
    private int epoch;
    private int step;
    private long completedSteps;
    private long phaseId;
    private Phase phase;
    private int stepBatchSize;
    private readonly Stopwatch stepClock = new();
    private readonly HashSet<IActorRef> awaiting = [];
    private readonly Dictionary<IActorRef, StepLogits> logits = [];
    private readonly Dictionary<IActorRef, StepDone> done = [];
    private long bytesSent;
    private long bytesReceived;

    // The evaluation under way.
    private Dictionary<IActorRef, float[]?[]> evalParts = [];
    private int evalBatches;

    public CoordinatorActor(TrainingPlan plan, CoordinatorSettings settings, ITrainingObserver observer, TaskCompletionSource<CohortResult> completion)
    {
        this.plan = plan;
        this.settings = settings;
        this.observer = observer;
        this.completion = completion;
        distillation = plan.Training.Distillation;
        log = ActorLog.For(Context, settings.Logging, "P2PDistill.Coordinator");
        if (settings.Resume is { } resume)
        {
            completedSteps = resume.Step;
            epoch = resume.Epoch;
            step = resume.StepInEpoch;
            pendingRestore = new Dictionary<string, byte[]>(resume.States);
        }
        WaitingForMembers();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TrainingPlan plan, CoordinatorSettings settings, ITrainingObserver observer, TaskCompletionSource<CohortResult> completion) =>
        Akka.Actor.Props.Create(() => new CoordinatorActor(plan, settings, observer, completion));

    protected override void PreStart()
    {
        if (Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal))
            Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.UnreachableMember));
        log.Info("Waiting for a teacher and {0} student(s); dataset {1} {2}, {3} classes; {4} steps per epoch, {5} epoch(s)",
            settings.MinStudents, plan.Data.Dataset, plan.Splits.Shape, plan.Splits.NumClasses, plan.StepsPerEpoch, plan.Training.Epochs);
    }

    protected override void PostStop()
    {
        completion.TrySetResult(Result(false, "the coordinator stopped"));
    }

    // ---------------------------------------------------------------- states

    private void WaitingForMembers()
    {
        Receive<StopRequested>(_ =>
        {
            log.Warning("Stop requested while waiting for members: nothing to checkpoint beyond what is on disk");
            Stopped();
        });
        Membership();
        Receive<NextStep>(_ => TryStart());
    }

    private void Training()
    {
        Receive<StopRequested>(_ =>
        {
            log.Warning("Stop requested: finishing step {0}, then a final checkpoint", completedSteps + 1);
            stopRequested = true;
            if (awaiting.Count == 0) Self.Tell(NextStep.Instance);
        });
        Membership();
        Receive<NextStep>(_ => StartStep());
        Receive<StepLogits>(OnLogits);
        Receive<StepDone>(OnDone);
        Receive<PhaseTimeout>(t => t.Id == phaseId, _ => OnPhaseTimeout());
        Receive<PhaseTimeout>(_ => { });
    }

    private void Evaluating()
    {
        Receive<StopRequested>(_ => stopRequested = true);
        Membership();
        Receive<EvalProbabilities>(OnEvalProbabilities);
        Receive<PhaseTimeout>(t => t.Id == phaseId, _ => OnEvalTimeout());
        Receive<PhaseTimeout>(_ => { });
        Receive<NextStep>(_ => { });
    }

    private void Finished()
    {
        Receive<RegisterModel>(_ => Sender.Tell(new RegistrationRefused("the run has finished")));
        ReceiveAny(_ => { });
    }

    // ---------------------------------------------------------------- membership (every state)

    private void Membership()
    {
        Receive<RegisterModel>(OnRegister);
        Receive<ModelReady>(OnReady);
        Receive<Terminated>(t => Leave(t.ActorRef, "it stopped"));
        Receive<ClusterEvent.UnreachableMember>(u =>
        {
            foreach (var m in known.Values.Where(m => m.Actor.Path.Address.Equals(u.Member.Address)).ToList())
                Drop(m.Actor, $"node {u.Member.Address} is unreachable");
        });
    }

    private void OnRegister(RegisterModel r)
    {
        if (known.TryGetValue(Sender, out var again))
        {
            SendAcceptance(Sender, again.Slot, again.Setup);
            return;
        }
        var why = Refusal(r);
        if (why is not null)
        {
            log.Warning("Refused {0} {1} from {2}: {3}", Name(r.Role), r.ModelName, r.NodeAddress, why);
            Sender.Tell(new RegistrationRefused(why));
            return;
        }
        int slot = r.Role == ModelRole.Teacher ? 0 : Enumerable.Range(1, int.MaxValue - 1).First(s => known.Values.All(m => m.Role != ModelRole.Student || m.Slot != s));
        var setup = plan.Setup(r.Role, slot, r.ModelName);
        var member = new Member(Sender, r, slot, setup);
        known[Sender] = member;
        Context.Watch(Sender);
        log.Info("Accepted {0} ({1}) from {2}", setup.Id, r.ModelName, r.NodeAddress);
        SendAcceptance(Sender, slot, setup);
    }

    private RegistrationAccepted Acceptance(int slot, TrainerSetup setup) =>
        new(slot, setup, plan.Data.IsLocal ? new LocalData(plan.Data, plan.Training, plan.Fingerprint) : null);

    /// <summary>Accepts a model; in a resumed run, also sends it its checkpointed state in frame-sized chunks.</summary>
    private void SendAcceptance(IActorRef model, int slot, TrainerSetup setup)
    {
        long from = completedSteps;
        if (!pendingRestore.TryGetValue(setup.Id, out var state) && !FromLastCheckpoint(setup, out state, out from))
        {
            model.Tell(Acceptance(slot, setup));
            return;
        }
        int size = ModelActor.WeightsChunkBytes;
        int count = Math.Max(1, (state!.Length + size - 1) / size);
        model.Tell(Acceptance(slot, setup) with { RestoreChunks = count, RestoreStep = from });
        for (int i = 0; i < count; i++)
            model.Tell(new RestoreChunk(setup.Id, i, count, state[(i * size)..Math.Min(state.Length, (i + 1) * size)]));
        log.Info("{0} gets its state from the checkpoint at step {1}", setup.Id, from);
    }

    /// <summary>
    /// A model (re)joining a run that has checkpoints (a restarted student, a teacher back under the <c>wait</c>
    /// policy) starts from its slot's state in the newest good checkpoint, not from fresh weights (DESIGN.md §6).
    /// </summary>
    private bool FromLastCheckpoint(TrainerSetup setup, out byte[]? state, out long step)
    {
        state = null;
        step = 0;
        if (settings.CheckpointDirectory is null || (completedSteps == 0 && !runClock.IsRunning)) return false;
        try
        {
            var store = new CheckpointStore(settings.CheckpointDirectory, plan.Training.KeepCheckpoints);
            var latest = store.LatestGood(why => log.Warning("Skipping a bad checkpoint: {0}", why));
            if (latest is null) return false;
            var manifest = CheckpointStore.ReadManifest(latest);
            var saved = manifest.Models.FirstOrDefault(m => m.Id == setup.Id && m.ModelName == setup.ModelName && m.Seed == setup.Seed);
            if (saved is null)
            {
                log.Info("{0} is not in the checkpoint at step {1}: it starts from fresh weights", setup.Id, manifest.Step);
                return false;
            }
            state = File.ReadAllBytes(Path.Combine(latest, saved.File));
            step = CheckpointStore.StateStepOf(manifest, saved);
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or System.Text.Json.JsonException or UnauthorizedAccessException)
        {
            log.Warning("Could not read the last checkpoint for {0} ({1}): it starts from fresh weights", setup.Id, e.Message);
            return false;
        }
    }

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
        if (!known.TryGetValue(Sender, out var m)) return;
        m.Ready = true;
        log.Info("{0} is ready ({1:N0} parameters); it joins the cohort at the next step boundary", m.Id, ready.Parameters);
        Self.Tell(NextStep.Instance);
    }

    private void Leave(IActorRef actor, string why)
    {
        if (!known.Remove(actor, out var m)) return;
        Context.Unwatch(actor);
        bool wasInCohort = cohort.Remove(m);
        log.Warning("{0} left{1}: {2}; cohort now {3}", m.Id, wasInCohort ? " the cohort" : "", why, Describe(cohort));
        if (awaiting.Remove(actor)) CheckPhaseComplete();
        evalParts.Remove(actor);
    }

    /// <summary>
    /// Leaves the model out at once, and tells it so: if it is alive after all (a network hiccup, a slow step), it
    /// registers again and rejoins at a step boundary instead of waiting forever.
    /// </summary>
    private void Drop(IActorRef actor, string why)
    {
        if (!known.ContainsKey(actor)) return;
        actor.Tell(new P2PDistill.Shared.Messages.Dropped(why));
        Leave(actor, why);
    }

    /// <summary>At a step boundary: ready models join the cohort.</summary>
    private void AdmitReady()
    {
        foreach (var m in known.Values.Where(m => m.Ready && !cohort.Contains(m)).OrderBy(m => m.Slot).ToList())
        {
            cohort.Add(m);
            log.Info("{0} joined the cohort at step {1}; cohort now {2}", m.Id, completedSteps + 1, Describe(cohort));
        }
        cohort.Sort((a, b) => a.Slot.CompareTo(b.Slot));
    }

    // ---------------------------------------------------------------- starting and pausing

    private void TryStart()
    {
        AdmitReady();
        int students = cohort.Count(m => m.Role == ModelRole.Student);
        bool teacher = cohort.Any(m => m.Role == ModelRole.Teacher);
        if (!teacher || students < settings.MinStudents) return;
        log.Info("Cohort complete ({0}); training {1} at step {2}", Describe(cohort), completedSteps == 0 ? "starts" : "resumes", completedSteps + 1);
        pendingRestore.Clear();
        if (!runClock.IsRunning) runClock.Start();
        Become(Training);
        Self.Tell(NextStep.Instance);
    }

    private bool MustPause(out string why)
    {
        why = "";
        bool teacher = cohort.Any(m => m.Role == ModelRole.Teacher);
        if (!teacher && settings.TeacherLost == TeacherLostPolicy.Wait)
        {
            why = "no teacher in the cohort (teacher-lost policy: wait)";
            return true;
        }
        if (cohort.All(m => m.Role != ModelRole.Student))
        {
            why = "no student in the cohort";
            return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- the step (DESIGN.md §3)

    private void StartStep()
    {
        if (awaiting.Count > 0) return; // a step is under way; this NextStep came from a model getting ready
        if (stopRequested)
        {
            Checkpoint(Stopped);
            return;
        }
        AdmitReady();
        if (MustPause(out var why))
        {
            log.Warning("Training paused before step {0}: {1}", completedSteps + 1, why);
            Become(WaitingForMembers);
            return;
        }

        // Ship mode sends the batch's pixels; local mode only (epoch, step) and each node builds the batch itself.
        object message = plan.Data.IsLocal
            ? new TrainStepLocal(completedSteps + 1, epoch, step)
            : new TrainStep(completedSteps + 1, epoch, step, plan.TrainBatch(epoch, step));
        stepBatchSize = plan.TrainBatchSize(epoch, step);
        long size = StepMessageSerializer.WireSize(message);
        logits.Clear();
        done.Clear();
        awaiting.Clear();
        bytesSent = 0;
        bytesReceived = 0;
        stepClock.Restart();
        foreach (var m in cohort)
        {
            m.Actor.Tell(message);
            awaiting.Add(m.Actor);
            bytesSent += size;
        }
        StartPhase(Phase.Logits, settings.StepTimeout);
    }

    private void OnLogits(StepLogits l)
    {
        if (phase != Phase.Logits || l.GlobalStep != completedSteps + 1 || !awaiting.Remove(Sender)) return;
        logits[Sender] = l;
        bytesReceived += StepMessageSerializer.WireSize(l);
        CheckPhaseComplete();
    }

    private void SendTargets()
    {
        var teacher = cohort.FirstOrDefault(m => m.Role == ModelRole.Teacher && logits.ContainsKey(m.Actor));
        var students = cohort.Where(m => m.Role == ModelRole.Student && logits.ContainsKey(m.Actor)).ToList();
        var b = stepBatchSize;
        var targets = TargetBuilder.Build(teacher is null ? null : logits[teacher.Actor].Logits, students.Select(s => logits[s.Actor].Logits).ToList(),
            b, plan.Spec.NumClasses, distillation);
        if (teacher is not null) Send(teacher, new ApplyTargets(completedSteps + 1, DistillTargets.None));
        for (int i = 0; i < students.Count; i++) Send(students[i], new ApplyTargets(completedSteps + 1, targets[i]));
        StartPhase(Phase.Done, settings.StepTimeout);

        void Send(Member m, ApplyTargets message)
        {
            m.Actor.Tell(message);
            awaiting.Add(m.Actor);
            bytesSent += StepMessageSerializer.WireSize(message);
        }
    }

    private void OnDone(StepDone d)
    {
        if (phase != Phase.Done || d.GlobalStep != completedSteps + 1 || !awaiting.Remove(Sender)) return;
        done[Sender] = d;
        bytesReceived += StepMessageSerializer.WireSize(d);
        if (!d.Applied)
        {
            Fail($"{d.ModelId}: the loss is not finite at epoch {epoch + 1} step {step + 1} (loss {d.Loss}, CE {d.Ce}, KD {d.Kd}, ML {d.Ml}); the step was refused");
            return;
        }
        CheckPhaseComplete();
    }

    private void CheckPhaseComplete()
    {
        if (awaiting.Count > 0) return;
        if (phase == Phase.Logits)
        {
            if (logits.Count == 0) { Pause("every model left during the step"); return; }
            SendTargets();
            return;
        }
        CompleteStep();
    }

    private void CompleteStep()
    {
        Timers.Cancel(nameof(PhaseTimeout));
        completedSteps++;
        var records = cohort.Where(m => done.ContainsKey(m.Actor)).Select(m =>
        {
            var d = done[m.Actor];
            var compute = d.ComputeMs + (logits.TryGetValue(m.Actor, out var l) ? l.ComputeMs : 0);
            return new ModelStepRecord(m.Id, m.Role, new LossParts(d.Loss, d.Ce, d.Kd, d.Ml), d.BatchAccuracy, d.LearningRate, compute);
        }).ToList();
        var record = new StepRecord(epoch, step, completedSteps, plan.StepsPerEpoch, stepBatchSize, stepClock.Elapsed.TotalSeconds, records, bytesSent, bytesReceived);
        observer.OnStep(record);
        if (log.IsDebugEnabled)
            log.Debug("step {0}: {1:F1} ms, coordination {2:F1} ms, {3:N0} bytes sent, {4:N0} received", completedSteps, record.Seconds * 1000, record.CoordinationMs, bytesSent, bytesReceived);

        step++;
        if (step < plan.StepsPerEpoch)
        {
            int every = plan.Training.CheckpointEverySteps;
            if (every > 0 && completedSteps % every == 0)
                Checkpoint(() =>
                {
                    Become(Training);
                    Self.Tell(NextStep.Instance);
                });
            else
                Self.Tell(NextStep.Instance);
            return;
        }
        int finishedEpoch = epoch;
        step = 0;
        epoch++;
        bool last = epoch == plan.Training.Epochs;
        if (last || (finishedEpoch + 1) % plan.Training.EvalEveryEpochs == 0) StartEvaluation(finishedEpoch);
        else Checkpoint(ContinueAfterEpoch);
    }

    private void OnPhaseTimeout()
    {
        foreach (var actor in awaiting.ToList())
        {
            var id = known.TryGetValue(actor, out var m) ? m.Id : actor.Path.ToString();
            log.Warning("{0} missed the {1} s step timeout at step {2} and is dropped", id, settings.StepTimeout.TotalSeconds, completedSteps + 1);
            Drop(actor, "missed the step timeout");
        }
        CheckPhaseComplete();
    }

    private void StartPhase(Phase next, TimeSpan timeout)
    {
        phase = next;
        phaseId++;
        Timers.StartSingleTimer(nameof(PhaseTimeout), new PhaseTimeout(phaseId), timeout);
    }

    private void Pause(string why)
    {
        log.Warning("Training paused at step {0}: {1}", completedSteps + 1, why);
        Timers.Cancel(nameof(PhaseTimeout));
        awaiting.Clear();
        Become(WaitingForMembers);
    }

    // ---------------------------------------------------------------- evaluation (DESIGN.md §5)

    private void StartEvaluation(int finishedEpoch)
    {
        Become(Evaluating);
        evalBatches = plan.TestBatchCount;
        evalParts = cohort.ToDictionary(m => m.Actor, _ => new float[]?[evalBatches]);
        awaiting.Clear();
        StartPhase(phase, settings.EvalTimeout);
        evalEpoch = finishedEpoch;
        if (plan.Data.IsLocal)
        {
            foreach (var m in cohort) m.Actor.Tell(new EvaluateLocal(phaseId));
        }
        else
        {
            int i = 0;
            foreach (var testBatch in plan.TestBatches())
            {
                var message = new EvaluateBatch(phaseId, i++, testBatch);
                foreach (var m in cohort) m.Actor.Tell(message);
            }
        }
        foreach (var m in cohort) awaiting.Add(m.Actor);
    }

    private int evalEpoch;

    private void OnEvalProbabilities(EvalProbabilities p)
    {
        if (p.EvalId != phaseId || !evalParts.TryGetValue(Sender, out var parts) || p.Index < 0 || p.Index >= parts.Length) return;
        parts[p.Index] = p.Probabilities;
        if (parts.All(x => x is not null)) awaiting.Remove(Sender);
        if (awaiting.Count == 0) CompleteEvaluation();
    }

    private void OnEvalTimeout()
    {
        foreach (var actor in awaiting.ToList())
        {
            log.Warning("{0} did not finish the evaluation in {1} s and is left out of it", known.TryGetValue(actor, out var m) ? m.Id : actor.Path.ToString(), settings.EvalTimeout.TotalSeconds);
            evalParts.Remove(actor);
        }
        awaiting.Clear();
        CompleteEvaluation();
    }

    private void CompleteEvaluation()
    {
        Timers.Cancel(nameof(PhaseTimeout));
        var models = cohort.Where(m => evalParts.TryGetValue(m.Actor, out var parts) && parts.All(x => x is not null))
            .Select(m => (m.Id, m.Role, evalParts[m.Actor].SelectMany(x => x!).ToArray())).ToList();
        if (models.Count > 0)
        {
            var evaluation = Evaluation.Combine(evalEpoch, completedSteps, models, plan.TestLabels(), plan.Spec.NumClasses);
            evaluations.Add(evaluation);
            observer.OnEvaluation(evaluation);
        }
        evalParts = [];
        Checkpoint(ContinueAfterEpoch);
    }

    /// <summary>After an epoch's evaluation and checkpoint: the next epoch, or the end.</summary>
    private void ContinueAfterEpoch()
    {
        if (stopRequested && epoch < plan.Training.Epochs)
        {
            Stopped(); // the epoch's checkpoint was just written
            return;
        }
        if (epoch >= plan.Training.Epochs)
        {
            Finish();
            return;
        }
        Become(Training);
        Self.Tell(NextStep.Instance);
    }

    // ---------------------------------------------------------------- ending

    private void Finish()
    {
        log.Info("Training finished: {0} steps in {1:F1} s", completedSteps, runClock.Elapsed.TotalSeconds);
        runClock.Stop();
        if (settings.ExportDirectory is null || cohort.Count == 0)
        {
            Complete();
            return;
        }
        // Exporting: every model sends its final weights; they are written under the run directory.
        Collect(fullState: false, results =>
        {
            System.IO.Directory.CreateDirectory(settings.ExportDirectory);
            foreach (var (m, bytes) in results)
            {
                var path = System.IO.Path.Combine(settings.ExportDirectory, m.Id + ".dat");
                AtomicFile.Write(path, tmp => System.IO.File.WriteAllBytes(tmp, bytes));
                exports.Add(new ExportedWeights(m.Setup, path));
            }
            Complete();
        });
    }

    private readonly List<ExportedWeights> exports = [];

    // ---------------------------------------------------------------- collecting model states (checkpoints, exports)

    private Dictionary<IActorRef, byte[]?[]?> weightParts = [];
    private List<(Member Member, byte[] Bytes)> collectedStates = [];
    private Action<List<(Member Member, byte[] Bytes)>>? afterCollect;

    /// <summary>Asks every cohort model for its weights (or full training state) and continues with what arrives.</summary>
    private void Collect(bool fullState, Action<List<(Member Member, byte[] Bytes)>> then)
    {
        Become(Collecting);
        awaiting.Clear();
        StartPhase(phase, settings.EvalTimeout);
        weightParts = cohort.ToDictionary(m => m.Actor, _ => (byte[]?[]?)null);
        collectedStates = [];
        afterCollect = then;
        foreach (var m in cohort)
        {
            m.Actor.Tell(new ExportWeights(phaseId, fullState));
            awaiting.Add(m.Actor);
        }
        if (awaiting.Count == 0) EndCollect();
    }

    private void Collecting()
    {
        Receive<WeightsChunk>(c =>
        {
            if (c.ExportId != phaseId || !weightParts.TryGetValue(Sender, out var parts) || c.Count < 1 || c.Index < 0 || c.Index >= c.Count) return;
            parts ??= weightParts[Sender] = new byte[]?[c.Count];
            if (parts.Length != c.Count) return;
            parts[c.Index] = c.Data;
            if (parts.Any(p => p is null) || !known.TryGetValue(Sender, out var m)) return;
            collectedStates.Add((m, parts.SelectMany(p => p!).ToArray()));
            awaiting.Remove(Sender);
            if (awaiting.Count == 0) EndCollect();
        });
        Receive<PhaseTimeout>(t => t.Id == phaseId, _ =>
        {
            log.Warning("No model state from {0} within {1} s", string.Join(", ", awaiting.Select(a => known.TryGetValue(a, out var m) ? m.Id : a.Path.ToString())), settings.EvalTimeout.TotalSeconds);
            EndCollect();
        });
        Receive<PhaseTimeout>(_ => { });
        Receive<Terminated>(t =>
        {
            Leave(t.ActorRef, "it stopped");
            if (awaiting.Count == 0) EndCollect();
        });
        Receive<NextStep>(_ => { });
        Receive<StopRequested>(_ => stopRequested = true);
        Membership();
    }

    private void EndCollect()
    {
        Timers.Cancel(nameof(PhaseTimeout));
        awaiting.Clear();
        var then = afterCollect;
        afterCollect = null;
        then?.Invoke(collectedStates.OrderBy(x => x.Member.Slot).ToList());
    }

    /// <summary>Writes a checkpoint of every model's full state, then continues with <paramref name="next"/>.</summary>
    private void Checkpoint(Action next)
    {
        if (settings.CheckpointDirectory is null || cohort.Count == 0)
        {
            next();
            return;
        }
        Collect(fullState: true, results =>
        {
            try
            {
                var store = new CheckpointStore(settings.CheckpointDirectory, plan.Training.KeepCheckpoints);
                var path = store.Write(settings.RunId, completedSteps, epoch, step, results.Select(r => (r.Member.Setup, r.Member.Slot, r.Bytes)),
                    carryOverAbsent: true);
                log.Info("Checkpoint at step {0}: {1} models in {2}", completedSteps, results.Count, path);
            }
            catch (IOException e)
            {
                log.Error("Checkpoint at step {0} failed: {1}; the previous checkpoints are kept", completedSteps, e.Message);
            }
            next();
        });
    }

    /// <summary>Ends a run stopped on request: not completed, but cleanly, with its last checkpoint on disk.</summary>
    private void Stopped()
    {
        Timers.Cancel(nameof(PhaseTimeout));
        runClock.Stop();
        completion.TrySetResult(Result(false, $"stopped on request after step {completedSteps}"));
        TellEveryone(new TrainingFinished(false, "the coordinator was stopped"));
        Become(Finished);
    }

    private void Complete()
    {
        Timers.Cancel(nameof(PhaseTimeout));
        completion.TrySetResult(Result(true, null));
        TellEveryone(new TrainingFinished(true, null));
        Become(Finished);
    }

    private void Fail(string reason)
    {
        log.Error("Training stopped: {0}", reason);
        Timers.Cancel(nameof(PhaseTimeout));
        completion.TrySetResult(Result(false, reason));
        TellEveryone(new TrainingFinished(false, reason));
        Become(Finished);
    }

    private void TellEveryone(object message)
    {
        foreach (var m in known.Values)
        {
            Context.Unwatch(m.Actor);
            m.Actor.Tell(message);
        }
    }

    private CohortResult Result(bool completed, string? reason)
    {
        var seconds = runClock.Elapsed.TotalSeconds;
        return new CohortResult(evaluations.ToList(), completedSteps, seconds,
            seconds > 0 ? completedSteps * (double)plan.Training.BatchSize / seconds : 0, completed, reason, exports.ToList());
    }

    private static string Describe(IEnumerable<Member> members)
    {
        var list = members.ToList();
        var teacher = list.Any(m => m.Role == ModelRole.Teacher) ? "teacher" : "no teacher";
        return $"{teacher} + {list.Count(m => m.Role == ModelRole.Student)} student(s)";
    }

    private static string Name(ModelRole role) => role == ModelRole.Teacher ? "teacher" : "student";
}
