using Akka.Actor;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>The coordinator's step protocol (DESIGN.md §3) and evaluation (DESIGN.md §5).</summary>
public sealed partial class CoordinatorActor
{
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
            RunAgain(s, "no model finished the step"); // nobody's step-done reply counted: the step is not counted
            return;
        }
        var teacher = cohort.FirstOrDefault(m => m.Role == ModelRole.Teacher && s.Logits.ContainsKey(m.Actor));
        var students = cohort.Where(m => m.Role == ModelRole.Student && s.Logits.ContainsKey(m.Actor)).ToList();
        if (teacher is null && students.Count == 0)
        {
            RunAgain(s, "every model left during the step");
            return;
        }
        var targets = plan.Task.Targets(teacher is null ? null : s.Logits[teacher.Actor].Logits, students.Select(m => s.Logits[m.Actor].Logits).ToList(),
            s.BatchSize, plan.Training.Distillation);
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

    /// <summary>The step is abandoned uncounted; the policy decides when it runs again (with a new attempt id).</summary>
    private void RunAgain(StepState s, string why)
    {
        log.Warning("Training paused at step {0}: {1}; the step is run again", s.GlobalStep, why);
        GoTo(new WaitingState(why));
        StartStep();
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
        var e = new EvaluatingState(NextAttempt(), finishedEpoch, cohort.ToDictionary(m => m.Actor, _ => new float[]?[plan.EvaluationBatchCount]));
        GoTo(e, settings.EvalTimeout);
        if (plan.Data.IsLocal)
        {
            foreach (var m in cohort) m.Actor.Tell(new EvaluateLocal(e.Attempt));
        }
        else
        {
            int i = 0;
            foreach (var testBatch in plan.EvaluationBatches())
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
            var evaluation = plan.EvaluationOf(e.Epoch, position.CompletedSteps, models);
            evaluations.Add(evaluation);
            if (!Observe(() => observer.OnEvaluation(evaluation), "the evaluation metrics")) return;
        }
        else log.Warning("No model finished the evaluation of epoch {0}", e.Epoch + 1);
        Save(SaveKind.Checkpoint, AfterSave.EndOfEpoch);
    }
}
