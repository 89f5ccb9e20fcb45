using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>The coordinator's membership: registration, slots, restores, readiness, departures, timeouts and failure reports.</summary>
public sealed partial class CoordinatorActor
{
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
        if (NotUpHereYet(r)) return;
        var why = Refusal(r);
        if (why is not null)
        {
            log.Warning("Refused {0} {1} from {2}: {3}", Name(r.Role), r.ModelName, r.NodeAddress, why);
            Sender.Tell(new RegistrationRefused(why));
            return;
        }
        int slot = ChooseSlot(r, Sender);
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
                    var (state, step) = savedState.Load();
                    return new RestoreLoaded(model, setup, state, step, null);
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
    /// Whether a registration comes from a node that is not Up (or WeaklyUp) in this coordinator's view of the cluster
    /// yet: it is not answered, and the model's own retry (every few seconds) is accepted once the node is Up here. A model
    /// accepted earlier would be watched by Akka's plain remote death watch instead of the cluster's failure detector,
    /// and that one quarantines the node for good after any silence longer than the heartbeat pause, a freeze of this
    /// coordinator included: the model would be lost for the rest of the run, and the cluster split. Models in this
    /// actor system (the embedded runner) and systems without the cluster are accepted at once.
    /// </summary>
    private bool NotUpHereYet(RegisterModel r)
    {
        var address = Sender.Path.Address;
        if (address.HasLocalScope || !InCluster) return false;
        var cluster = Cluster.Get(Context.System);
        if (address.Equals(cluster.SelfAddress)) return false;
        if (cluster.State.Members.Any(m => m.Address.Equals(address) && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp))
        {
            waitingForUp.Remove(address);
            return false;
        }
        if (waitingForUp.Add(address))
            log.Info("{0} {1} from {2} registers before its node is up in this coordinator's view of the cluster: it is accepted once it is (it registers again)",
                Name(r.Role), r.ModelName, r.NodeAddress);
        return true;
    }

    /// <summary>
    /// The teacher takes slot 0. A student takes the lowest free slot whose saved state is of its architecture, else the
    /// lowest free slot with no saved state, else the lowest free slot: in a mixed cohort (tiny and mlp students) restarted
    /// in any order, every student finds its own state.
    /// </summary>
    private int ChooseSlot(RegisterModel r, IActorRef model)
    {
        if (r.Role == ModelRole.Teacher) return 0;
        var taken = known.Values.Where(m => m.Role == ModelRole.Student).Select(m => m.Slot).ToHashSet();
        // A model dropped and back from the same node (a blip, a pause) takes its own slot again, keeping its id and network;
        // the actor's path tells apart several model actors of one node.
        if (lastSlots.TryGetValue(LastSlotKey(r, model), out var own) && !taken.Contains(own)) return own;
        var free = Enumerable.Range(1, Math.Max(taken.DefaultIfEmpty().Max(), saved.MaxStudentSlot) + 1).Where(s => !taken.Contains(s)).ToList();
        string? SavedName(int s) => saved.ModelNameOf(TrainingPlan.ModelId(ModelRole.Student, s));
        return free.Where(s => SavedName(s) == r.ModelName).Cast<int?>().FirstOrDefault()
               ?? free.Where(s => SavedName(s) is null).Cast<int?>().FirstOrDefault()
               ?? free[0];
    }

    private static (string Node, string Actor, ModelRole Role, string Model) LastSlotKey(RegisterModel r, IActorRef model) =>
        (r.NodeAddress, model.Path.ToStringWithoutAddress(), r.Role, r.ModelName);

    private void OnRestoreLoaded(RestoreLoaded l)
    {
        if (!known.TryGetValue(l.Model, out var m) || m.Accepted || m.Setup != l.Setup) return;
        m.Accepted = true;
        if (l.State is null)
        {
            log.Error("Could not read the saved state of {0} ({1}): it starts from fresh weights", m.Id, l.Problem);
            m.Actor.Tell(Acceptance(m.Slot, m.Setup));
            return;
        }
        var parts = Chunks.Split(l.State, WireLimits.Of(Context.System).ChunkBytes).ToList();
        m.Actor.Tell(Acceptance(m.Slot, m.Setup) with { RestoreChunks = parts.Count, RestoreStep = l.Step });
        foreach (var (index, count, part) in parts) m.Actor.Tell(new RestoreChunk(m.Id, index, count, part));
        log.Info("{0} gets its state from the checkpoint at step {1}", m.Id, l.Step);
    }

    private RegistrationAccepted Acceptance(int slot, TrainerSetup setup) =>
        new(slot, setup, plan.Data.IsLocal ? new LocalData(plan.Data, plan.Training, plan.Fingerprint) : null);

    private string? Refusal(RegisterModel r)
    {
        var spec = plan.Spec;
        long frame = WireLimits.Of(Context.System).FrameBytes;
        if (r.FrameBytes != frame)
            return string.Create(CultureInfo.InvariantCulture,
                $"the node's remoting frame is {r.FrameBytes:N0} bytes ({MiB(r.FrameBytes)}) but the coordinator's is {frame:N0} bytes ({MiB(frame)}): " +
                $"every node sizes the weights it sends from its own frame, so they must agree; start every node with the same --max-frame-mb (the coordinator has {MiB(frame)})");
        var modelProblem = ModelRegistry.Validate(r.ModelName, spec, plan.Training.Task);
        if (modelProblem is not null) return modelProblem;
        if (r.NumClasses != spec.NumClasses)
            return $"the node's model has {r.NumClasses} classes but the dataset '{plan.Data.Dataset}' has {spec.NumClasses}; start it with --classes {spec.NumClasses}";
        if (r.Channels != spec.Channels || r.Height != spec.Height || r.Width != spec.Width)
            return $"the node's input shape is {r.Channels}x{r.Height}x{r.Width} but the dataset's is {spec.Channels}x{spec.Height}x{spec.Width}; start it with --input-shape {spec.Channels}x{spec.Height}x{spec.Width}";
        if (r.Role == ModelRole.Teacher && known.Values.Any(m => m.Role == ModelRole.Teacher))
            return "the cohort already has a teacher";
        return null;
    }

    /// <summary>A frame as <c>--max-frame-mb</c> gives it ("32 MiB"), or in bytes when it is no whole number of MiB.</summary>
    private static string MiB(long bytes) => bytes % (1024 * 1024) == 0
        ? string.Create(CultureInfo.InvariantCulture, $"--max-frame-mb {bytes / (1024 * 1024)}")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} bytes, not a whole --max-frame-mb");

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
        lastSlots[LastSlotKey(m.Registration, m.Actor)] = m.Slot;
        bool wasInCohort = cohort.Remove(m);
        log.Warning("{0} left{1} while {2}: {3}; cohort now {4}", m.Id, wasInCohort ? " the cohort" : "", state.Name, why, Describe(cohort));
        GoOnWithout(actor);
    }

    /// <summary>The current state completes its own phase without this model (it left, or its request failed).</summary>
    private void GoOnWithout(IActorRef actor)
    {
        switch (state)
        {
            case StepState s:
                foreach (var later in s.Later()) later.Forget(actor);
                if (s.Forget(actor)) Advance(s);
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
                foreach (var actor in s.AwaitingLogits.Union(s.AwaitingDone).ToList())
                {
                    s.Forget(actor); // first, so that the departure does not advance the step: it advances once, below
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
        if (state is StepState s)
        {
            if (s.Forget(Sender)) Advance(s); // the folded next step still waits for it: only this request failed
        }
        else GoOnWithout(Sender);
    }
}
