using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Actors;

/// <summary>What a model actor is and where it finds its coordinator.</summary>
/// <param name="Declared">The input shape and classes this network is configured for; the coordinator checks them.</param>
/// <param name="Coordinator">The coordinator in the same actor system (embedded mode); null: find it in the cluster by role.</param>
/// <param name="OnRefused">Called once when the coordinator refuses the registration (the node then exits non-zero).</param>
/// <param name="OnRejoinNeeded">
/// Cluster mode: called (with why and when the coordinator was lost) when this node cannot get back to a coordinator in
/// its current cluster — the coordinator's node was removed, or stayed unreachable for <paramref name="RejoinGrace"/>.
/// A restarted coordinator forms a new cluster, which a node can only join as a fresh member: the host then starts a
/// new actor system that joins the seed nodes again.
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

    /// <summary>Why and since when the coordinator is lost (null: not lost).</summary>
    private (string Why, DateTime Since)? lost;

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
            typeof(ClusterEvent.UnreachableMember));
    }

    protected override void PostStop()
    {
        if (settings.Coordinator is null) Cluster.Get(Context.System).Unsubscribe(Self);
        trainer?.Dispose();
    }

    private void Registering()
    {
        Receive<ClusterEvent.MemberUp>(up =>
        {
            if (!up.Member.HasRole(CoordinatorRole)) return;
            coordinatorSelection = Context.ActorSelection(new RootActorPath(up.Member.Address) / "user" / CoordinatorName);
            log.Info("Coordinator node {0} is up; registering {1} {2}", up.Member.Address, Name(settings.Role), settings.ModelName);
            Register();
        });
        Receive<ClusterEvent.MemberRemoved>(removed =>
        {
            if (lost is not null && removed.Member.HasRole(CoordinatorRole))
                RejoinAsFreshMember($"the coordinator's node {removed.Member.Address} was removed from the cluster");
        });
        Receive<ClusterEvent.UnreachableMember>(_ => { });
        Receive<RejoinGraceOver>(_ =>
        {
            if (lost is not null) RejoinAsFreshMember($"the coordinator stayed unreachable for {settings.RejoinGrace!.Value.TotalSeconds:F0} s");
        });
        Receive<RetryRegister>(_ => Register());
        Receive<GiveUp>(g =>
        {
            log.Error("Giving up: {0}", g.Why);
            settings.OnGaveUp?.Invoke(g.Why);
            Context.Stop(Self);
        });
        Receive<RegistrationAccepted>(accepted =>
        {
            Timers.Cancel(nameof(RetryRegister));
            Timers.Cancel(nameof(GiveUp));
            Timers.Cancel(nameof(RejoinGraceOver));
            lost = null;
            if (accepted.Local is not null && !PrepareLocalData(accepted)) return;
            coordinator = Sender;
            Context.Watch(coordinator);
            bool same = trainer is not null && trainer.Setup.Id == accepted.Setup.Id && trainer.Setup.Seed == accepted.Setup.Seed
                        && trainer.Setup.ModelName == accepted.Setup.ModelName;
            if (!same)
            {
                trainer?.Dispose();
                trainer = new ModelTrainer(accepted.Setup);
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
                restoreParts = new byte[]?[accepted.RestoreChunks];
                restoreStep = accepted.RestoreStep;
                keepCurrent = same;
                Become(Restoring);
                return;
            }
            coordinator.Tell(new ModelReady(accepted.Setup.Id, trainer!.ParameterCount));
            Become(Training);
        });
        Receive<RegistrationRefused>(refused =>
        {
            Timers.Cancel(nameof(RetryRegister));
            log.Error("Registration refused by the coordinator: {0}", refused.Reason);
            settings.OnRefused?.Invoke(refused.Reason);
            Context.Stop(Self);
        });
    }

    private byte[]?[] restoreParts = [];
    private long restoreStep;
    private bool keepCurrent;

    /// <summary>Resumed run: receiving this model's checkpointed state before training.</summary>
    private void Restoring()
    {
        Receive<RestoreChunk>(c =>
        {
            if (c.Count != restoreParts.Length || c.Index < 0 || c.Index >= c.Count) return;
            restoreParts[c.Index] = c.Data;
            if (restoreParts.Any(p => p is null)) return;
            if (keepCurrent)
            {
                // Taken back after a blip: this network has trained past the checkpoint; keep it.
                log.Info("Keeping {0}'s current network ({1} optimizer steps applied) rather than the checkpoint at step {2}",
                    trainer!.Id, trainer.StepsApplied, restoreStep);
            }
            else
            {
                trainer!.LoadState(restoreParts.SelectMany(p => p!).ToArray());
                log.Info("Restored {0} from the checkpoint at step {1}: {2} optimizer steps applied", trainer.Id, restoreStep, trainer.StepsApplied);
            }
            restoreParts = [];
            coordinator!.Tell(new ModelReady(trainer.Id, trainer.ParameterCount));
            Become(Training);
        });
        Receive<RegistrationAccepted>(_ => { });
        Receive<Terminated>(t => t.ActorRef.Equals(coordinator), _ => CoordinatorLost("it stopped"));
        Receive<ClusterEvent.MemberRemoved>(removed => removed.Member.HasRole(CoordinatorRole), removed =>
        {
            CoordinatorLost($"node {removed.Member.Address} was removed");
            RejoinAsFreshMember($"the coordinator's node {removed.Member.Address} was removed from the cluster");
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.UnreachableMember>(_ => { });
    }

    private void Training()
    {
        Receive<TrainStep>(step => Guarded(step.Attempt, () =>
        {
            var clock = Stopwatch.StartNew();
            var logits = trainer!.Forward(step.Batch);
            Sender.Tell(new StepLogits(step.GlobalStep, trainer.Id, step.Batch.Count, logits.Length / Math.Max(1, step.Batch.Count), logits,
                clock.Elapsed.TotalMilliseconds, step.Attempt));
        }));
        Receive<TrainStepLocal>(step => Guarded(step.Attempt, () =>
        {
            var clock = Stopwatch.StartNew();
            var batch = localPlan!.TrainBatch(step.Epoch, step.Step);
            var logits = trainer!.Forward(batch);
            Sender.Tell(new StepLogits(step.GlobalStep, trainer.Id, batch.Count, logits.Length / Math.Max(1, batch.Count), logits,
                clock.Elapsed.TotalMilliseconds, step.Attempt));
        }));
        Receive<EvaluateLocal>(e => Guarded(e.EvalId, () =>
        {
            int index = 0;
            foreach (var batch in localPlan!.TestBatches())
            {
                var probs = trainer!.Predict(batch);
                Sender.Tell(new EvalProbabilities(e.EvalId, index++, trainer.Id, batch.Count, probs.Length / Math.Max(1, batch.Count), probs));
            }
        }));
        Receive<ApplyTargets>(apply => Guarded(apply.Attempt, () =>
        {
            var clock = Stopwatch.StartNew();
            var o = trainer!.Backward(apply.Targets);
            Sender.Tell(new StepDone(apply.GlobalStep, trainer.Id, o.Loss.Total, o.Loss.Ce, o.Loss.Kd, o.Loss.Ml, o.BatchAccuracy, o.LearningRate, o.Applied,
                clock.Elapsed.TotalMilliseconds, apply.Attempt));
        }));
        Receive<EvaluateBatch>(e => Guarded(e.EvalId, () =>
        {
            var probs = trainer!.Predict(e.Batch);
            Sender.Tell(new EvalProbabilities(e.EvalId, e.Index, trainer.Id, e.Batch.Count, probs.Length / Math.Max(1, e.Batch.Count), probs));
        }));
        Receive<GetParameters>(_ => Sender.Tell(new ModelParameters(trainer!.Id, trainer.StepsApplied, trainer.FlatParameters())));
        Receive<ExportWeights>(e => Guarded(e.ExportId, () => SendWeights(e)));
        Receive<Terminated>(t => t.ActorRef.Equals(coordinator), _ => CoordinatorLost("it stopped"));
        Receive<ClusterEvent.MemberRemoved>(removed => removed.Member.HasRole(CoordinatorRole), removed =>
        {
            CoordinatorLost($"node {removed.Member.Address} was removed");
            RejoinAsFreshMember($"the coordinator's node {removed.Member.Address} was removed from the cluster");
        });
        Receive<ClusterEvent.UnreachableMember>(u => u.Member.HasRole(CoordinatorRole), u => CoordinatorLost($"node {u.Member.Address} is unreachable"));
        Receive<ClusterEvent.UnreachableMember>(_ => { });
        Receive<ClusterEvent.MemberRemoved>(_ => { });
        Receive<ClusterEvent.MemberUp>(_ => { });
        Receive<RegistrationAccepted>(_ => log.Debug("Ignoring a repeated registration acceptance"));
        Receive<Messages.Dropped>(d =>
        {
            log.Warning("The coordinator dropped this model from the cohort ({0}); registering again", d.Reason);
            if (coordinator is not null) Context.Unwatch(coordinator);
            coordinator = null;
            Become(Registering);
            Register();
        });
        Receive<TrainingFinished>(f =>
        {
            log.Info("The coordinator ended the run ({0})", f.Completed ? "completed" : f.Reason ?? "stopped");
            Context.Unwatch(Sender);
            settings.OnFinished?.Invoke(f);
            Become(Finished);
        });
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
        var data = local.Data.Clone();
        if (!string.IsNullOrWhiteSpace(settings.DataPath)) data.Path = settings.DataPath;
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

    /// <summary>Largest weights chunk sent to the coordinator (well inside the default 32 MiB frame).</summary>
    public const int WeightsChunkBytes = 8 * 1024 * 1024;

    private void SendWeights(ExportWeights e)
    {
        var bytes = e.FullState ? trainer!.StateBytes() : trainer!.WeightsBytes();
        int count = Math.Max(1, (bytes.Length + WeightsChunkBytes - 1) / WeightsChunkBytes);
        for (int i = 0; i < count; i++)
        {
            int start = i * WeightsChunkBytes;
            Sender.Tell(new WeightsChunk(e.ExportId, trainer!.Id, i, count, bytes[start..Math.Min(bytes.Length, start + WeightsChunkBytes)]));
        }
    }

    private void Finished()
    {
        Receive<ExportWeights>(e => Guarded(e.ExportId, () => SendWeights(e)));
        Receive<GetParameters>(_ => Sender.Tell(new ModelParameters(trainer!.Id, trainer.StepsApplied, trainer.FlatParameters())));
        ReceiveAny(_ => { });
    }

    private void CoordinatorLost(string why)
    {
        log.Warning("Lost the coordinator ({0}); registering again when one is up", why);
        coordinator = null;
        lost = (why, DateTime.UtcNow);
        if (settings.RejoinTimeout is { } rejoin)
            Timers.StartSingleTimer(nameof(GiveUp), new GiveUp($"the coordinator was lost ({why}) and did not come back within {rejoin.TotalSeconds:F0} s"), rejoin);
        if (settings.OnRejoinNeeded is not null && settings.RejoinGrace is { } grace)
            Timers.StartSingleTimer(nameof(RejoinGraceOver), RejoinGraceOver.Instance, grace);
        Become(Registering);
        if (settings.Coordinator is null && coordinatorSelection is not null) Register();
    }

    /// <summary>The coordinator will not come back to this cluster (it was removed, or a restarted one formed a new cluster): start over as a fresh member.</summary>
    private void RejoinAsFreshMember(string why)
    {
        if (settings.OnRejoinNeeded is null || lost is not { } l) return;
        log.Warning("Rejoining: {0}; starting a fresh cluster member that joins the seed nodes again", why);
        Timers.CancelAll();
        Become(() => ReceiveAny(_ => { }));
        settings.OnRejoinNeeded(l.Why, l.Since);
    }

    private void Register()
    {
        var d = settings.Declared;
        var message = new RegisterModel(SelfAddress, settings.Role, settings.ModelName, d.Channels, d.Height, d.Width, d.NumClasses);
        if (settings.Coordinator is not null) settings.Coordinator.Tell(message);
        else coordinatorSelection?.Tell(message);
        Timers.StartSingleTimer(nameof(RetryRegister), RetryRegister.Instance, settings.RegisterRetry ?? TimeSpan.FromSeconds(3));
    }

    private static string Name(ModelRole role) => role == ModelRole.Teacher ? "teacher" : "student";
}
