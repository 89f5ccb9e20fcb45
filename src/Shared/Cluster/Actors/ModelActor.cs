using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Actors;

/// <summary>What a model actor is and where it finds its coordinator.</summary>
/// <param name="Declared">The input shape and classes this network is configured for; the coordinator checks them.</param>
/// <param name="Coordinator">The coordinator in the same actor system (embedded mode); null: find it in the cluster by role.</param>
/// <param name="OnRefused">Called once when the coordinator refuses the registration (the node then exits non-zero).</param>
/// <param name="OnRejoinNeeded">
/// Cluster mode: called (with why and when the coordinator was lost) when this node cannot get back to its coordinator in
/// its current cluster: the coordinator's node was removed (or downed), or a new incarnation of the coordinator (a
/// restart) answers at its address or is up in the cluster. A restarted coordinator forms a new cluster, which a node can
/// only join as a fresh member: the host then starts a new actor system that joins the seed nodes again. A coordinator
/// that is merely unreachable (a pause, a network blip) is waited for, however long, up to <paramref name="RejoinTimeout"/>.
/// </param>
/// <param name="RejoinGrace">
/// How long the coordinator may stay unreachable before this node checks that it is still a member of the cluster (it
/// rejoins as a fresh member only if it is not).
/// </param>
/// <param name="LostCoordinator">Set on such a fresh member: why the previous one lost the coordinator (for the give-up message).</param>
public sealed record ModelActorSettings(
    ModelRole Role,
    string ModelName,
    ModelSpec Declared,
    IActorRef? Coordinator = null,
    Action<string>? OnRefused = null,
    TimeSpan? RegisterRetry = null,
    Action<TrainingFinished>? OnFinished = null,
    Microsoft.Extensions.Logging.ILoggerFactory? Logging = null,
    string? DataPath = null,
    int Threads = 0,
    TimeSpan? JoinTimeout = null,
    TimeSpan? RejoinTimeout = null,
    Action<string>? OnGaveUp = null,
    Action<string, DateTime>? OnRejoinNeeded = null,
    TimeSpan? RejoinGrace = null,
    string? LostCoordinator = null);

/// <summary>
/// Owns exactly one network, its optimizer and its generator (DESIGN.md §2) and runs on a pinned dispatcher:
/// TorchSharp's dispose scopes are per thread and a long step must not starve Akka's dispatchers.
/// Registers with the coordinator, then serves the two halves of each step and evaluation batches.
/// </summary>
public sealed class ModelActor : ReceiveActor, IWithTimers
{
    public const string Dispatcher = "p2pdistill-model-dispatcher";
    public const string CoordinatorRole = "coordinator";
    public const string CoordinatorName = "coordinator";

    /// <summary>HOCON for the pinned dispatcher model actors run on.</summary>
    public const string DispatcherHocon = Dispatcher + " { type = PinnedDispatcher, executor = thread-pool-executor }";

    private sealed record RetryRegister
    {
        public static RetryRegister Instance { get; } = new();
    }

    private sealed record GiveUp(string Why);

    private sealed record RejoinGraceOver
    {
        public static RejoinGraceOver Instance { get; } = new();
    }

    /// <summary>While the coordinator is unreachable: ask who answers at its address (a restarted coordinator is a new actor).</summary>
    private sealed record ProbeCoordinator
    {
        public static ProbeCoordinator Instance { get; } = new();
    }

    private const string ProbeId = "p2pdistill-coordinator-probe";

    /// <summary>
    /// Why and since when the coordinator is lost (null: not lost); <c>Unreachable</c>: only its node is unreachable, so
    /// it may come back as it was (a pause is not a restart).
    /// </summary>
    private (string Why, DateTime Since, bool Unreachable)? lost;

    /// <summary>
    /// The coordinator that accepted this model, and its node's incarnation (cluster mode): from the first acceptance on,
    /// the only one this model obeys, re-registers with and follows; other coordinators are ignored (issue 10, item 4).
    /// </summary>
    private IActorRef? owner;
    private UniqueAddress? ownerNode;

    /// <summary>Before the first acceptance (cluster mode): the coordinator node this model registers with, the first one up.</summary>
    private Member? candidate;

    private readonly ModelActorSettings settings;
    private readonly ActorLog log;
    private ActorSelection? coordinatorSelection;
    private IActorRef? coordinator;
    private ModelTrainer? trainer;
    private TrainingPlan? localPlan;

    public ModelActor(ModelActorSettings settings)
    {
        this.settings = settings;
        log = ActorLog.For(Context, settings.Logging, "P2PDistill.Model");
        Registering();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ModelActorSettings settings) => Akka.Actor.Props.Create(() => new ModelActor(settings)).WithDispatcher(Dispatcher);

    private string SelfAddress => Context.System is ExtendedActorSystem ext ? ext.Provider.DefaultAddress.ToString() : Self.Path.Address.ToString();

    protected override void PreStart()
    {
        // libtorch's intra-op thread count is an OpenMP setting of the calling thread: set it here, on the
        // pinned thread that will run every forward and backward, not on the thread that built the host.
        if (settings.Threads > 0) TorchSharp.torch.set_num_threads(settings.Threads);
        if (settings.JoinTimeout is { } join)
            Timers.StartSingleTimer(nameof(GiveUp), new GiveUp(settings.LostCoordinator is { } why
                ? $"the coordinator was lost ({why}) and did not come back within {(settings.RejoinTimeout ?? join).TotalSeconds:F0} s"
                : $"no coordinator answered within {join.TotalSeconds:F0} s; check --seed-nodes, the coordinator's address and port, and the firewall"), join);
        if (settings.Coordinator is not null) Register();
        else Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.InitialStateAsEvents, typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved),
            typeof(ClusterEvent.MemberDowned), typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.ReachableMember));
    }

    protected override void PostStop()
    {
        if (settings.Coordinator is null) Cluster.Get(Context.System).Unsubscribe(Self);
        trainer?.Dispose();
    }

    private void Registering()
    {
        FollowCoordinator();
        Receive<GetParameters>(_ => trainer is not null, _ => Sender.Tell(new ModelParameters(trainer!.Id, trainer.StepsApplied, trainer.FlatParameters())));
        Receive<Terminated>(_ => { });
        Receive<RetryRegister>(_ => Register());
        Receive<GiveUp>(g =>
        {
            log.Error("Giving up: {0}", g.Why);
            settings.OnGaveUp?.Invoke(g.Why);
            Context.Stop(Self);
        });
        Receive<RegistrationAccepted>(_ => FromRegistrar(), accepted =>
        {
            Timers.Cancel(nameof(RetryRegister));
            Timers.Cancel(nameof(GiveUp));
            Timers.Cancel(nameof(RejoinGraceOver));
            Timers.Cancel(nameof(ProbeCoordinator));
            lost = null;
            if (accepted.Local is not null && !PrepareLocalData(accepted)) return;
            RecordOwner();
            coordinator = Sender;
            Context.Watch(coordinator);
            bool same = trainer is not null && trainer.Setup.Id == accepted.Setup.Id && trainer.Setup.Seed == accepted.Setup.Seed
                        && trainer.Setup.ModelName == accepted.Setup.ModelName;
            if (!same)
            {
                trainer?.Dispose();
                trainer = new ModelTrainer(accepted.Setup);
                (undoable, pendingStep) = ([], null);
                log.Info("Accepted as {0} (slot {1}): {2}, {3:N0} parameters, seed {4}",
                    accepted.Setup.Id, accepted.Slot, accepted.Setup.ModelName, trainer.ParameterCount, accepted.Setup.Seed);
            }
            else
            {
                // The same coordinator took this model back after a blip: keep training the same network.
                log.Info("Accepted again as {0}; continuing with the same network", accepted.Setup.Id);
            }
            if (accepted.RestoreChunks > 0)
            {
                restoreParts = new ChunkAssembler(accepted.RestoreChunks, WireLimits.Of(Context.System).ChunkBytes);
                restoreStep = accepted.RestoreStep;
                keepCurrent = same;
                Become(Restoring);
                return;
            }
            coordinator.Tell(new ModelReady(accepted.Setup.Id, trainer!.ParameterCount));
            Become(Training);
        });
        Receive<RegistrationRefused>(_ => FromRegistrar(), refused =>
        {
            Timers.Cancel(nameof(RetryRegister));
            log.Error("Registration refused by the coordinator: {0}", refused.Reason);
            settings.OnRefused?.Invoke(refused.Reason);
            Context.Stop(Self);
        });
        Receive<RegistrationAccepted>(Refuse);
        Receive<RegistrationRefused>(Refuse);
        RefuseOthers();
    }

    private ChunkAssembler restoreParts = new();
    private long restoreStep;
    private bool keepCurrent;

    /// <summary>Resumed run: receiving this model's checkpointed state before training.</summary>
    private void Restoring()
    {
        Receive<RestoreChunk>(FromCoordinator, c =>
        {
            if (!restoreParts.TryAdd(c.Index, c.Count, c.Data, out var state))
            {
                log.Warning("A part of the checkpointed state is refused: {0}", restoreParts.Problem);
                return;
            }
            if (state is null) return;
            if (keepCurrent)
            {
                // Taken back after a blip: this network has trained past the checkpoint; keep it.
                log.Info("Keeping {0}'s current network ({1} optimizer steps applied) rather than the checkpoint at step {2}",
                    trainer!.Id, trainer.StepsApplied, restoreStep);
            }
            else
            {
                trainer!.Discard();
                (undoable, pendingStep) = ([], null);
                trainer.LoadState(state);
                log.Info("Restored {0} from the checkpoint at step {1}: {2} optimizer steps applied", trainer.Id, restoreStep, trainer.StepsApplied);
            }
            restoreParts = new();
            coordinator!.Tell(new ModelReady(trainer.Id, trainer.ParameterCount));
            Become(Training);
        });
        Receive<RegistrationAccepted>(_ => { });
        Receive<Terminated>(t => t.ActorRef.Equals(coordinator), _ => CoordinatorLost("it stopped"));
        Receive<Terminated>(_ => { });
        FollowCoordinator();
        RefuseOthers();
    }

    private void Training()
    {
        // A step's optimizer update is held until the coordinator shows it counted the step: its next request commits it
        // (DropCount says what a drop or the end counted). A model dropped from a step it answered too late never applies it.
        // Under the one-round-trip fold (ApplyAndTrain) the update is applied before the next forward, before the coordinator
        // counted it, and kept undoable: a drop that did not count it takes it back, so the model keeps its network.
        Receive<TrainStep>(FromCoordinator, step =>
        {
            if (step.WholeStep) WholeStep(step.GlobalStep, step.Batch, step.Attempt, step.CountedThrough);
            else Guarded(step.Attempt, () =>
            {
                var clock = Stopwatch.StartNew(); // the held update of the previous step is part of this model's compute
                BeforeStep(step.GlobalStep);
                Forward(step.GlobalStep, step.Batch, step.Attempt, clock);
            });
        });
        Receive<TrainStepLocal>(FromCoordinator, step =>
        {
            if (step.WholeStep) WholeStep(step.GlobalStep, localPlan!.TrainBatch(step.Epoch, step.Step), step.Attempt, step.CountedThrough);
            else Guarded(step.Attempt, () =>
            {
                var clock = Stopwatch.StartNew(); // the held update of the previous step is part of this model's compute
                BeforeStep(step.GlobalStep);
                Forward(step.GlobalStep, localPlan!.TrainBatch(step.Epoch, step.Step), step.Attempt, clock);
            });
        });
        Receive<ApplyAndTrain>(FromCoordinator, ApplyThenTrain);
        Receive<Rewind>(FromCoordinator, r => DecidePending(r.CountedThrough));
        Receive<EvaluateLocal>(FromCoordinator, e => Guarded(e.EvalId, () =>
        {
            CommitPending();
            int index = 0;
            foreach (var batch in localPlan!.EvaluationBatches())
            {
                var probs = trainer!.Predict(batch);
                Sender.Tell(new EvalProbabilities(e.EvalId, index++, trainer.Id, batch.Count, probs.Length / Math.Max(1, batch.Count), probs));
            }
        }));
        Receive<ApplyTargets>(FromCoordinator, apply => Guarded(apply.Attempt, () =>
        {
            ShowsCounted(apply.GlobalStep);
            Backward(apply, Stopwatch.StartNew());
        }));
        Receive<EvaluateBatch>(FromCoordinator, e => Guarded(e.EvalId, () =>
        {
            CommitPending();
            var probs = trainer!.Predict(e.Batch);
            Sender.Tell(new EvalProbabilities(e.EvalId, e.Index, trainer.Id, e.Batch.Count, probs.Length / Math.Max(1, e.Batch.Count), probs));
        }));
        Receive<GetParameters>(_ => Sender.Tell(new ModelParameters(trainer!.Id, trainer.StepsApplied, trainer.FlatParameters())));
        Receive<ExportWeights>(FromCoordinator, e => Guarded(e.ExportId, () =>
        {
            CommitPending();
            SendWeights(e);
        }));
        Receive<Terminated>(t => t.ActorRef.Equals(coordinator), _ => CoordinatorLost("it stopped"));
        Receive<Terminated>(_ => { });
        FollowCoordinator();
        Receive<RegistrationAccepted>(_ => log.Debug("Ignoring a repeated registration acceptance"));
        Receive<DroppedFromCohort>(FromCoordinator, d =>
        {
            log.Warning("The coordinator dropped this model from the cohort ({0}); registering again", d.Reason);
            DecidePending(d.CountedThrough);
            if (coordinator is not null) Context.Unwatch(coordinator);
            coordinator = null;
            Become(Registering);
            Register();
        });
        Receive<TrainingFinished>(FromCoordinator, f =>
        {
            DecidePending(f.CountedThrough);
            log.Info("The coordinator ended the run ({0}); {1} applied {2} optimizer steps", f.Completed ? "completed" : f.Reason ?? "stopped",
                trainer!.Id, trainer.StepsApplied);
            Context.Unwatch(Sender);
            settings.OnFinished?.Invoke(f);
            Become(Finished);
        });
        RefuseOthers();
    }

    /// <summary>The step whose optimizer update is held until the coordinator shows it counted it (null: none).</summary>
    private long? pendingStep;

    /// <summary>
    /// The steps applied before the coordinator counted them, oldest first (a student's fold; the teacher's next whole steps,
    /// run ahead). The trainer keeps what it takes to take each back until the coordinator shows it was counted, or a drop,
    /// the end or a rewind shows it was not.
    /// </summary>
    private List<long> undoable = [];

    /// <summary>The coordinator counted every step through <paramref name="countedThrough"/>: their undo copies go.</summary>
    private void Forget(long countedThrough)
    {
        int n = undoable.TakeWhile(step => step <= countedThrough).Count();
        if (n == 0) return;
        trainer!.ForgetOldest(n);
        undoable.RemoveRange(0, n);
    }

    /// <summary>Steps from <paramref name="first"/> on were applied but are not counted (dropped, run again): they are taken back.</summary>
    private void TakeBackFrom(long first, string why)
    {
        int n = undoable.Count - undoable.TakeWhile(step => step < first).Count();
        if (n == 0) return;
        log.Warning("{0}: {1}; the update{2} of step{2} {3} applied before it was counted {4} taken back", trainer!.Id, why, n == 1 ? "" : "s",
            string.Join(", ", undoable.Skip(undoable.Count - n)), n == 1 ? "is" : "are");
        trainer.UndoLast(n);
        undoable.RemoveRange(undoable.Count - n, n);
    }

    /// <summary>The coordinator sent its next request: it counted the held step and every step applied before it.</summary>
    private void CommitPending()
    {
        if (undoable.Count > 0) trainer?.ForgetUndo();
        undoable.Clear();
        trainer?.Commit();
        pendingStep = null;
    }

    /// <summary>
    /// A plain request for step <paramref name="globalStep"/> (a first half, targets, a fold's targets) shows the coordinator
    /// counted every step before it for this model. An update of this step or a later one belongs to an attempt the
    /// coordinator gave up (a step run again): it is taken back.
    /// </summary>
    private void ShowsCounted(long globalStep)
    {
        TakeBackFrom(globalStep, $"step {globalStep} is run again");
        Forget(globalStep - 1);
    }

    /// <summary>
    /// Before the first half of step <paramref name="globalStep"/>: a held update of an earlier step is applied; a held update
    /// of this step or a later one belongs to an attempt the coordinator gave up (a step run again) and is dropped. A plain
    /// request shows the held step was counted. The teacher's whole-step request of the folded protocol leaves before the
    /// coordinator counted the steps before it (it says which it counted, <paramref name="countedThrough"/>): a held update
    /// it did not count yet is applied undoably.
    /// </summary>
    private void BeforeStep(long globalStep, long? countedThrough = null)
    {
        TakeBackFrom(globalStep, $"step {globalStep} is run again");
        if (pendingStep is { } held && held >= globalStep)
        {
            log.Warning("{0}: step {1} is run again; the update held from its earlier attempt is dropped, not applied", trainer!.Id, held);
            trainer.Discard();
            pendingStep = null;
        }
        if (countedThrough is not { } counted)
        {
            CommitPending();
            return;
        }
        Forget(counted);
        if (pendingStep is { } previous && trainer!.HasUncommittedStep && previous > counted)
        {
            trainer.CommitUndoable();
            undoable.Add(previous);
        }
        else trainer?.Commit();
        pendingStep = null;
    }

    /// <summary>
    /// Dropped, ended or rewound: apply the held update only if the coordinator counted its step, and take back the updates
    /// of steps it did not count (answered too late, or run ahead of a boundary), so the network is the one of the steps
    /// counted.
    /// </summary>
    private void DecidePending(long countedThrough)
    {
        if (pendingStep is { } step && step > countedThrough)
        {
            log.Warning("{0}: the coordinator did not count step {1} for this model; its update is dropped, not applied", trainer!.Id, step);
            trainer.Discard();
            pendingStep = null;
        }
        TakeBackFrom(countedThrough + 1, $"the coordinator counted steps through {countedThrough} for this model");
        CommitPending();
    }

    /// <summary>The forward of a step (its first half): the output goes back as <see cref="StepLogits"/>.</summary>
    private void Forward(long globalStep, ImageBatch batch, long attempt, Stopwatch clock)
    {
        var logits = trainer!.Forward(batch);
        Sender.Tell(new StepLogits(globalStep, trainer.Id, batch.Count, logits.Length / Math.Max(1, batch.Count), logits, clock.Elapsed.TotalMilliseconds, attempt));
    }

    /// <summary>The backward of a step (its second half), held until counted: the outcome goes back as <see cref="StepDone"/>.</summary>
    private StepOutcome Backward(ApplyTargets apply, Stopwatch clock)
    {
        var o = trainer!.Backward(apply.Targets, commit: false);
        pendingStep = o.Applied ? apply.GlobalStep : null;
        Sender.Tell(new StepDone(apply.GlobalStep, trainer.Id, o.Loss.Total, o.Loss.Ce, o.Loss.Kd, o.Loss.Ml, o.BatchAccuracy, o.LearningRate, o.Applied,
            clock.Elapsed.TotalMilliseconds, apply.Attempt));
        return o;
    }

    /// <summary>The teacher's fast path: the whole step at once, logits (from before the update) then step-done.</summary>
    private void WholeStep(long globalStep, ImageBatch batch, long attempt, long countedThrough) => Guarded(attempt, () =>
    {
        var clock = Stopwatch.StartNew();
        BeforeStep(globalStep, countedThrough >= 0 ? countedThrough : globalStep - 2);
        Forward(globalStep, batch, attempt, clock);
        Backward(new ApplyTargets(globalStep, DistillTargets.None, attempt), Stopwatch.StartNew());
    });

    /// <summary>
    /// The one-round-trip fold: the second half of a step, its update applied at once (the next forward needs it), then the
    /// first half of the next step. A failure in the backward fails both requests; in the forward, only the next one.
    /// </summary>
    private void ApplyThenTrain(ApplyAndTrain fold)
    {
        StepOutcome? outcome = null;
        Guarded(fold.Apply.Attempt, () =>
        {
            ShowsCounted(fold.Apply.GlobalStep);
            outcome = Backward(fold.Apply, Stopwatch.StartNew());
        });
        if (outcome is not { Applied: true })
        {
            if (outcome is null) Sender.Tell(new StepFailed(fold.NextAttempt, trainer?.Id ?? settings.ModelName, "the step before it failed in this model"));
            return; // a refused step (a loss that is not finite) ends the run: nothing follows
        }
        // Applied now (the next forward needs it), before the coordinator counted it: kept undoable until it shows it did.
        trainer!.CommitUndoable();
        undoable.Add(fold.Apply.GlobalStep);
        pendingStep = null;
        switch (fold.Next)
        {
            case TrainStep t: Guarded(t.Attempt, () => Forward(t.GlobalStep, t.Batch, t.Attempt, Stopwatch.StartNew())); break;
            case TrainStepLocal t: Guarded(t.Attempt, () => Forward(t.GlobalStep, localPlan!.TrainBatch(t.Epoch, t.Step), t.Attempt, Stopwatch.StartNew())); break;
        }
    }

    /// <summary>
    /// Supervision of everything else (a state that does not load, a bug): the failure is logged and reported to the host,
    /// and this actor stops. The coordinator sees it leave; the node exits non-zero. Akka's default strategy would restart
    /// the actor with fresh weights and have it register again as if nothing had happened.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var why = $"{trainer?.Id ?? settings.ModelName} failed while handling {message.GetType().Name}: {e.GetType().Name}: {e.Message}";
            log.Error("{0}; stopping this model rather than starting it again with fresh weights", why);
            settings.OnGaveUp?.Invoke(why);
            Context.Stop(Self);
            return true;
        }
    }

    /// <summary>
    /// Supervision of a request (DESIGN.md §6): an exception in this model's forward, backward or prediction is reported to
    /// the coordinator as a <see cref="StepFailed"/> for that request, and the actor goes on with the same network. It is never
    /// restarted with fresh weights behind the coordinator's back.
    /// </summary>
    private void Guarded(long attempt, Action work)
    {
        try
        {
            work();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var id = trainer?.Id ?? settings.ModelName;
            log.Error("{0}: request {1} failed: {2}", id, attempt, e.Message);
            Sender.Tell(new StepFailed(attempt, id, $"{e.GetType().Name}: {e.Message}"));
        }
    }

    /// <summary>Local data mode: load this node's copy of the dataset and check it is the coordinator's.</summary>
    private bool PrepareLocalData(RegistrationAccepted accepted)
    {
        var local = accepted.Local!;
        var data = string.IsNullOrWhiteSpace(settings.DataPath) ? local.Data : local.Data with { Path = settings.DataPath };
        string? problem = null;
        try
        {
            var splits = Data.DatasetFactory.Load(data);
            var fingerprint = Data.DatasetFingerprint.Compute(splits);
            if (fingerprint != local.Fingerprint)
                problem = $"local data mode: this node's copy of '{data.Dataset}' at '{data.Path}' differs from the coordinator's " +
                          $"(fingerprint {fingerprint[..12]} vs {local.Fingerprint[..12]}); give every node the same files";
            else
                localPlan = new TrainingPlan(local.Training, data, splits, accepted.Setup.Normalization, accepted.Setup.Optimizer);
        }
        catch (Data.DatasetException e)
        {
            problem = $"local data mode: {e.Message}";
        }
        if (problem is null)
        {
            log.Info("Local data mode: dataset {0} loaded, fingerprint matches the coordinator's", data.Dataset);
            return true;
        }
        Timers.Cancel(nameof(RetryRegister));
        log.Error("{0}", problem);
        settings.OnRefused?.Invoke(problem);
        Context.Stop(Self);
        return false;
    }

    private void SendWeights(ExportWeights e)
    {
        var bytes = e.FullState ? trainer!.StateBytes() : trainer!.WeightsBytes();
        foreach (var (index, count, part) in Chunks.Split(bytes, WireLimits.Of(Context.System).ChunkBytes))
            Sender.Tell(new WeightsChunk(e.ExportId, trainer.Id, index, count, part));
    }

    private void Finished()
    {
        Receive<ExportWeights>(FromCoordinator, e => Guarded(e.ExportId, () => SendWeights(e)));
        Receive<ExportWeights>(Refuse);
        Receive<GetParameters>(_ => Sender.Tell(new ModelParameters(trainer!.Id, trainer.StepsApplied, trainer.FlatParameters())));
        ReceiveAny(_ => { });
    }

    private void CoordinatorLost(string why)
    {
        if (IgnoredWhileLeaving(why)) return;
        log.Warning("Lost the coordinator ({0}); registering again with it while it is a member of the cluster", why);
        if (coordinator is not null) Context.Unwatch(coordinator);
        coordinator = null;
        bool wasLost = lost is not null;
        lost = (why, lost?.Since ?? DateTime.UtcNow, false);
        if (!wasLost) StartLostTimers(why);
        Become(Registering);
        if (settings.Coordinator is null && (owner is not null || coordinatorSelection is not null)) Register();
    }

    private void StartLostTimers(string why)
    {
        if (settings.RejoinTimeout is { } rejoin)
            Timers.StartSingleTimer(nameof(GiveUp), new GiveUp($"the coordinator was lost ({why}) and did not come back within {rejoin.TotalSeconds:F0} s"), rejoin);
        if (settings.OnRejoinNeeded is not null && settings.RejoinGrace is { } grace)
            Timers.StartSingleTimer(nameof(RejoinGraceOver), RejoinGraceOver.Instance, grace);
        if (settings.OnRejoinNeeded is not null && ownerNode is not null)
            Timers.StartPeriodicTimer(nameof(ProbeCoordinator), ProbeCoordinator.Instance, TimeSpan.Zero, settings.RegisterRetry ?? TimeSpan.FromSeconds(3));
    }

    // ---------------------------------------------------------------- which coordinator this model obeys (issue 10, items 4 and 5)

    /// <summary>
    /// Cluster events in every state but Finished. Before the first acceptance this model registers with the first
    /// coordinator node that is up; from then on only its own coordinator's node (by incarnation) matters: another
    /// coordinator joining or leaving changes nothing. Its node unreachable is not a loss of the coordinator (it may be
    /// paused); its node removed or downed, or a new incarnation up or answering at its address, is: the node then
    /// rejoins as a fresh member.
    /// </summary>
    private void FollowCoordinator()
    {
        Receive<ClusterEvent.MemberUp>(up => up.Member.HasRole(CoordinatorRole), up => CoordinatorUp(up.Member));
        Receive<ClusterEvent.MemberRemoved>(r => r.Member.HasRole(CoordinatorRole), r => CoordinatorGone(r.Member, "was removed from the cluster"));
        Receive<ClusterEvent.MemberDowned>(d => d.Member.HasRole(CoordinatorRole), d => CoordinatorGone(d.Member, "was downed"));
        Receive<ClusterEvent.UnreachableMember>(u => IsOwnerNode(u.Member), u => OwnerUnreachable(u.Member));
        Receive<ClusterEvent.ReachableMember>(r => IsOwnerNode(r.Member), r => OwnerReachable(r.Member));
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        Receive<RejoinGraceOver>(_ => RejoinGracePassed());
        Receive<ProbeCoordinator>(_ => Probe());
        Receive<ActorIdentity>(i => ProbeId.Equals(i.MessageId), ProbeAnswered);
    }

    private bool IsOwnerNode(Member member) => ownerNode is not null && member.UniqueAddress.Equals(ownerNode);

    private void CoordinatorUp(Member member)
    {
        if (settings.Coordinator is not null) return;
        if (owner is null)
        {
            if (candidate is not null && !candidate.UniqueAddress.Equals(member.UniqueAddress) && IsMember(candidate.UniqueAddress))
            {
                log.Warning("Another coordinator node {0} is up; this {1} registers with the first one, {2}", member.Address, Name(settings.Role), candidate.Address);
                return;
            }
            candidate = member;
            coordinatorSelection = Context.ActorSelection(new RootActorPath(member.Address) / "user" / CoordinatorName);
            log.Info("Coordinator node {0} is up; registering {1} {2}", member.Address, Name(settings.Role), settings.ModelName);
            Register();
            return;
        }
        if (IsOwnerNode(member)) return;
        if (lost is not null)
        {
            RejoinAsFreshMember($"a new coordinator incarnation {member.UniqueAddress} is up while this node's coordinator {ownerNode} is lost");
            return;
        }
        log.Warning("Another coordinator node {0} (uid {1}) is up; ignored: this model follows only its coordinator {2} (uid {3})",
            member.Address, member.UniqueAddress.Uid, ownerNode!.Address, ownerNode.Uid);
    }

    private void CoordinatorGone(Member member, string how)
    {
        if (settings.Coordinator is not null) return;
        if (IgnoredWhileLeaving($"node {member.Address} {how}")) return;
        if (owner is null)
        {
            if (candidate is null || !candidate.UniqueAddress.Equals(member.UniqueAddress)) return;
            log.Warning("Coordinator node {0} {1} before it accepted this model", member.Address, how);
            candidate = null;
            coordinatorSelection = null;
            var next = Cluster.Get(Context.System).State.Members
                .Where(m => m.HasRole(CoordinatorRole) && m.Status == MemberStatus.Up && !m.UniqueAddress.Equals(member.UniqueAddress))
                .OrderBy(m => m, Member.AgeOrdering).FirstOrDefault();
            if (next is not null) CoordinatorUp(next);
            return;
        }
        if (!IsOwnerNode(member))
        {
            log.Info("Coordinator node {0} {1}; ignored: it is not this model's coordinator ({2})", member.Address, how, ownerNode!.Address);
            return;
        }
        CoordinatorLost($"node {member.Address} {how}");
        RejoinAsFreshMember($"the coordinator's node {member.Address} {how}");
    }

    /// <summary>
    /// While this node leaves the cluster of its own accord, its own leave takes the coordinator from it: the node's view
    /// loses every member, the watch on the coordinator ends, remoting shuts down. None of that is a lost coordinator, and
    /// such a node must not register again or rejoin (the one place that decides it: every loss and every rejoin asks
    /// here). True (logged) when <paramref name="what"/> is to be ignored so.
    /// </summary>
    private bool IgnoredWhileLeaving(string what)
    {
        if (LeavingOfItsOwn() is not { } leaving) return false;
        log.Info("The coordinator is out of this node's reach ({0}) while this node leaves the cluster ({1}): not a lost coordinator", what, leaving);
        return true;
    }

    /// <summary>
    /// Why this node is leaving the cluster of its own accord (the end of the run, SIGTERM, a refusal), or null when it is
    /// not: a node that was downed is not leaving of its own accord, and rejoins.
    /// </summary>
    private string? LeavingOfItsOwn()
    {
        var reason = CoordinatedShutdown.Get(Context.System).ShutdownReason;
        if (reason is not null and not CoordinatedShutdown.ClusterDowningReason) return $"shutting down: {reason.GetType().Name}";
        var self = Cluster.Get(Context.System).SelfMember.Status;
        return self is MemberStatus.Leaving or MemberStatus.Exiting ? $"its status is {self}" : null;
    }

    /// <summary>Unreachable is not gone: keep the network and the membership, and carry on if the same incarnation comes back.</summary>
    private void OwnerUnreachable(Member member)
    {
        var why = $"node {member.Address} is unreachable";
        if (lost is not null || IgnoredWhileLeaving(why)) return;
        lost = (why, DateTime.UtcNow, true);
        log.Warning("Lost the coordinator ({0}); keeping this network and waiting for it to come back, to be removed from the cluster, or to restart", why);
        StartLostTimers(why);
    }

    private void OwnerReachable(Member member)
    {
        if (lost is not { Unreachable: true } l) return;
        lost = null;
        Timers.Cancel(nameof(GiveUp));
        Timers.Cancel(nameof(RejoinGraceOver));
        Timers.Cancel(nameof(ProbeCoordinator));
        log.Info("The coordinator's node {0} is reachable again after {1:F1} s (the same incarnation, uid {2}): continuing with it and with this network",
            member.Address, (DateTime.UtcNow - l.Since).TotalSeconds, member.UniqueAddress.Uid);
    }

    private void RejoinGracePassed()
    {
        if (lost is not { } l || ownerNode is null) return;
        if (IsMember(ownerNode))
        {
            log.Info("The coordinator ({0}) has been lost for {1:F0} s but its node is still a member of the cluster (a pause is not a restart): " +
                     "keeping this network and waiting for it", l.Why, (DateTime.UtcNow - l.Since).TotalSeconds);
            return;
        }
        RejoinAsFreshMember($"the coordinator's node {ownerNode.Address} is no longer a member of the cluster");
    }

    /// <summary>A member (not downed, not on its way out) of the cluster as this node sees it.</summary>
    private bool IsMember(UniqueAddress node) => Cluster.Get(Context.System).State.Members
        .Any(m => m.UniqueAddress.Equals(node) && m.Status is not (MemberStatus.Down or MemberStatus.Exiting or MemberStatus.Removed));

    private void Probe()
    {
        if (lost is null || ownerNode is null)
        {
            Timers.Cancel(nameof(ProbeCoordinator));
            return;
        }
        Context.ActorSelection(new RootActorPath(ownerNode.Address) / "user" / CoordinatorName).Tell(new Identify(ProbeId));
    }

    private void ProbeAnswered(ActorIdentity identity)
    {
        if (lost is null || owner is null || identity.Subject is not { } answered) return;
        if (answered.Path.Uid == owner.Path.Uid) return; // the same coordinator: it answers, its node will be reachable again
        RejoinAsFreshMember($"a restarted coordinator (a new incarnation) answers at {answered.Path.Address}");
    }

    /// <summary>Step and control messages are obeyed only from the coordinator that accepted this model.</summary>
    private bool FromCoordinator(object message) => owner is not null && Sender.Equals(owner);

    /// <summary>A registration answer: from this model's coordinator once accepted; before that, from the coordinator registered with.</summary>
    private bool FromRegistrar()
    {
        if (owner is not null) return Sender.Equals(owner);
        if (settings.Coordinator is not null) return Sender.Equals(settings.Coordinator);
        return candidate is not null && Sender.Path.Address.Equals(candidate.Address);
    }

    private void Refuse(object message)
    {
        // Its own coordinator's late step message (sent before it dropped this model) is merely out of turn.
        if (owner is not null && Sender.Equals(owner)) log.Debug("Ignoring {0} from the coordinator in this state", message.GetType().Name);
        else log.Warning("Refused {0} from {1}: this model obeys only its coordinator {2}", message.GetType().Name, Sender.Path,
            owner?.Path.ToString() ?? candidate?.Address.ToString() ?? "(none yet)");
    }

    /// <summary>Control and step messages that did not pass <see cref="FromCoordinator"/>: refused, with a warning naming the sender.</summary>
    private void RefuseOthers()
    {
        Receive<IStepMessage>(Refuse);
        Receive<DroppedFromCohort>(Refuse);
        Receive<TrainingFinished>(Refuse);
    }

    /// <summary>The first acceptance makes its sender this model's coordinator, with its node's incarnation.</summary>
    private void RecordOwner()
    {
        if (owner is not null) return;
        owner = Sender;
        if (settings.Coordinator is null)
        {
            ownerNode = candidate is not null && candidate.Address.Equals(Sender.Path.Address)
                ? candidate.UniqueAddress
                : Cluster.Get(Context.System).State.Members.FirstOrDefault(m => m.Address.Equals(Sender.Path.Address))?.UniqueAddress;
            log.Info("Following coordinator {0} (node {1}, uid {2}); other coordinators are ignored", owner.Path, ownerNode?.Address, ownerNode?.Uid);
        }
    }

    /// <summary>The coordinator will not come back to this cluster (it was removed, or a restarted one formed a new cluster): start over as a fresh member.</summary>
    private void RejoinAsFreshMember(string why)
    {
        if (settings.OnRejoinNeeded is null || lost is not { } l || IgnoredWhileLeaving(why)) return;
        log.Warning("Rejoining: {0}; starting a fresh cluster member that joins the seed nodes again", why);
        Timers.CancelAll();
        Become(() => ReceiveAny(_ => { }));
        settings.OnRejoinNeeded(l.Why, l.Since);
    }

    private void Register()
    {
        var d = settings.Declared;
        var message = new RegisterModel(SelfAddress, settings.Role, settings.ModelName, d.Channels, d.Height, d.Width, d.NumClasses,
            WireLimits.Of(Context.System).FrameBytes);
        // Once accepted, only that coordinator (that incarnation: the ref carries its uid) is asked again.
        if (settings.Coordinator is not null) settings.Coordinator.Tell(message);
        else if (owner is not null) owner.Tell(message);
        else coordinatorSelection?.Tell(message);
        Timers.StartSingleTimer(nameof(RetryRegister), RetryRegister.Instance, settings.RegisterRetry ?? TimeSpan.FromSeconds(3));
    }

    private static string Name(ModelRole role) => role == ModelRole.Teacher ? "teacher" : "student";
}
