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
        if (schedule.IsOver(position))
        {
            // Resumed from the final checkpoint of a run whose every step is done (killed after that checkpoint, before or
            // during the export, or resumed a second time): nothing is left to train. Export the restored models and end.
            log.Info("Cohort complete ({0}); the run's last checkpoint (step {1}) comes after its last epoch: nothing left to train, exporting the models",
                Describe(cohort), position.CompletedSteps);
            started = true;
            Finish();
            return;
        }
        if (state is WaitingState)
        {
            log.Info("Cohort complete ({0}); training {1} at step {2}", Describe(cohort), position.CompletedSteps == 0 ? "starts" : "resumes", position.CompletedSteps + 1);
            runClock.Start();
        }
        started = true;

        var s = NewStep(position.CompletedSteps + 1, position.Epoch, position.Step);
        GoTo(s, settings.StepTimeout);
        var request = RequestOf(s);
        Request(s, cohort.Where(m => m.Role == ModelRole.Teacher), request, teacher: true);
        Request(s, cohort.Where(m => m.Role != ModelRole.Teacher), request, teacher: false);
    }

    private StepState NewStep(long globalStep, int epoch, int step) => new(NextAttempt(), globalStep, epoch, step, plan.TrainBatchSize(epoch, step));

    private bool TeacherFastPath => settings.Protocol == StepProtocol.Folded;

    /// <summary>
    /// The first half of step <paramref name="s"/> for these models (<paramref name="request"/>: one message object for all, so
    /// the serializer encodes its batch once). On the fast path the teacher trains the whole step at once.
    /// </summary>
    private void Request(StepState s, IEnumerable<Member> models, IStepMessage request, bool teacher)
    {
        foreach (var m in models)
        {
            var message = teacher && TeacherFastPath ? WholeStep(request, m.CountedThrough) : request;
            m.Actor.Tell(message);
            s.AwaitingLogits.Add(m.Actor);
            if (teacher && TeacherFastPath) s.AwaitingDone.Add(m.Actor);
            s.BytesSent += StepMessageSerializer.WireSize(message);
            if (!teacher) continue;
            s.TeacherRequested = true;
            teacherRequestedThrough = Math.Max(teacherRequestedThrough, s.GlobalStep);
        }
    }

    /// <summary>The last step the teacher was asked for: beyond the steps completed, it ran ahead of a boundary (<see cref="RewindTeacher"/>).</summary>
    private long teacherRequestedThrough;

    private IStepMessage RequestOf(StepState s) => s.Request ??= TrainRequest(s);

    /// <summary>The first half of step <paramref name="s"/>: ship mode sends the batch's pixels; local mode only (epoch, step) and each node builds the batch itself.</summary>
    private IStepMessage TrainRequest(StepState s) => plan.Data.IsLocal
        ? new TrainStepLocal(s.GlobalStep, s.Epoch, s.Step, s.Attempt)
        : new TrainStep(s.GlobalStep, s.Epoch, s.Step, plan.TrainBatch(s.Epoch, s.Step), s.Attempt);

    /// <summary>
    /// The teacher's request of the same step (the same batch): its whole step at once. It says which steps were counted for
    /// the teacher, since it leaves before the steps before it are (the fold, run-ahead): their updates are applied undoably.
    /// </summary>
    private static IStepMessage WholeStep(IStepMessage request, long countedThrough) => request switch
    {
        TrainStep t => t with { WholeStep = true, CountedThrough = countedThrough },
        TrainStepLocal t => t with { WholeStep = true, CountedThrough = countedThrough },
        _ => throw new ArgumentException($"not a step request: {request.GetType().Name}", nameof(request)),
    };

    private void OnLogits(StepState s, StepLogits l)
    {
        if (!s.AwaitingLogits.Contains(Sender)) return;
        if (MalformedLogits(l, s.BatchSize) is { } why)
        {
            Malformed(why);
            return;
        }
        s.AwaitingLogits.Remove(Sender);
        s.Logits[Sender] = l;
        s.BytesReceived += StepMessageSerializer.WireSize(l);
        Advance(s);
    }

    /// <summary>
    /// Why a model's output does not have the shape of the step it answers (null when it does): rows = the step's batch, columns =
    /// the task's outputs per image (a classifier's classes, a detector's row width), and that many values.
    /// </summary>
    private string? MalformedLogits(StepLogits l, int batch) =>
        l.BatchSize == batch && l.Classes == plan.Task.OutputsPerImage && l.Logits.Length == (long)batch * plan.Task.OutputsPerImage ? null
            : $"its logits for step {l.GlobalStep} are {l.BatchSize} x {l.Classes} in {l.Logits.Length} values, where the step asked for {batch} x {plan.Task.OutputsPerImage}";

    /// <summary>
    /// A reply of the wrong shape is the fault of the model that sent it, as a missed deadline is: it leaves the cohort (and is
    /// told, so that a live node registers again), and its reply goes nowhere, least of all into a student's targets.
    /// </summary>
    private void Malformed(string why)
    {
        log.Error("{0} sent a malformed reply: {1}; it is dropped", IdOf(Sender), why);
        Depart(Sender, $"malformed reply: {why}", tell: true);
    }

    private void OnDone(StepState s, StepDone d)
    {
        if (!s.AwaitingDone.Remove(Sender)) return;
        s.Done[Sender] = d;
        s.BytesReceived += StepMessageSerializer.WireSize(d);
        Advance(s); // a refused step fails the run when it is current: a folded next step's refusal waits for this step to be written
    }

    /// <summary>The folded next step failed in a model (its backward of this step, or its forward): the next step goes on without it.</summary>
    private void OnNextFailed(StepState next, StepFailed f)
    {
        log.Error("{0} failed in step {1}: {2}; the step goes on without it", f.ModelId, next.GlobalStep, f.Reason);
        next.Forget(Sender);
    }

    /// <summary>
    /// When nobody is awaited any more: the targets once every output is in, the next step once every step-done reply is in.
    /// Only the current state advances; a folded next step waits until it is current.
    /// </summary>
    private void Advance(StepState s)
    {
        if (!ReferenceEquals(state, s)) return;
        if (s.Done.Values.FirstOrDefault(d => !d.Applied) is { } refused)
        {
            Fail($"{refused.ModelId}: the loss is not finite at epoch {s.Epoch + 1} step {s.Step + 1} (loss {refused.Loss}, CE {refused.Ce}, KD {refused.Kd}, " +
                 $"ML {refused.Ml}); the step was refused");
            return;
        }
        if (s.AwaitingLogits.Count > 0) return;
        if (s.Phase == StepPhase.Logits && !SendTargets(s)) return;
        if (s.AwaitingDone.Count > 0) return;
        if (cohort.Any(m => s.Done.ContainsKey(m.Actor))) CompleteStep(s);
        else RunAgain(s, "no model finished the step"); // nobody's step-done reply counted: the step is not counted
    }

    /// <summary>Every output is in: each student gets its targets (folded with the next step's batch when that step follows at once).</summary>
    private bool SendTargets(StepState s)
    {
        var teacher = cohort.FirstOrDefault(m => m.Role == ModelRole.Teacher && s.Logits.ContainsKey(m.Actor));
        var students = cohort.Where(m => m.Role == ModelRole.Student && s.Logits.ContainsKey(m.Actor)).ToList();
        if (teacher is null && students.Count == 0)
        {
            RunAgain(s, "every model left during the step");
            return false;
        }
        var targets = plan.Task.Targets(teacher is null ? null : s.Logits[teacher.Actor].Logits, students.Select(m => s.Logits[m.Actor].Logits).ToList(),
            s.BatchSize, plan.Training.Distillation);
        s.Phase = StepPhase.Done;
        Timers.StartSingleTimer(TimerKey, new PhaseTimeout(s.Attempt), settings.StepTimeout);
        if (teacher is not null && !TeacherFastPath) Send(teacher, new ApplyTargets(s.GlobalStep, DistillTargets.None, s.Attempt));

        var next = FoldsInto(s, students.Count);
        if (next is null) s.Next = null; // a run-ahead of the teacher past this boundary is given up (RewindTeacher, once the step completes)
        var nextRequest = next is null ? null : RequestOf(next); // one message object: its batch is built and encoded once
        for (int i = 0; i < students.Count; i++)
        {
            var apply = new ApplyTargets(s.GlobalStep, targets[i], s.Attempt);
            if (nextRequest is null) Send(students[i], apply);
            else
            {
                var fold = new ApplyAndTrain(apply, nextRequest);
                students[i].Actor.Tell(fold);
                s.AwaitingDone.Add(students[i].Actor);
                next!.AwaitingLogits.Add(students[i].Actor);
                s.BytesSent += StepMessageSerializer.WireSize(apply);
                next!.BytesSent += StepMessageSerializer.WireSize(fold.Next);
            }
        }
        if (next is not null && nextRequest is not null)
        {
            // The teacher (unless it ran ahead into this step) and any student without targets (its request failed) get the
            // next batch on its own.
            if (!next.TeacherRequested) Request(next, cohort.Where(m => m.Role == ModelRole.Teacher), nextRequest, teacher: true);
            Request(next, cohort.Where(m => m.Role == ModelRole.Student && !students.Contains(m)), nextRequest, teacher: false);
            s.Next = next;
            RunAhead(next);
        }
        return true;

        void Send(Member m, ApplyTargets message)
        {
            m.Actor.Tell(message);
            s.AwaitingDone.Add(m.Actor);
            s.BytesSent += StepMessageSerializer.WireSize(message);
        }
    }

    /// <summary>
    /// The fold: the next step is requested with this step's targets when it follows at once: no evaluation, checkpoint or end
    /// after this step, no stop requested, nobody waiting to be admitted, and the policy would train on. Null otherwise: the next
    /// step starts at the boundary (<see cref="StartStep"/>), where admissions, pauses and stops are decided.
    /// </summary>
    private StepState? FoldsInto(StepState s, int students)
    {
        if (settings.Protocol != StepProtocol.Folded || students == 0 || stopRequested) return null;
        if (known.Values.Any(m => m.Ready && !cohort.Contains(m))) return null;
        var after = schedule.After(position);
        if (after.EndedEpoch is not null || after.Checkpoint || after.Finished) return null;
        var view = new CohortView(cohort.Any(m => m.Role == ModelRole.Teacher), cohort.Count(m => m.Role == ModelRole.Student), true, stopRequested);
        if (policy.Decide(view) is not CohortDecision.Train) return null;
        return s.Next ?? NewStep(s.GlobalStep + 1, after.Next.Epoch, after.Next.Step); // the teacher may have run ahead into it
    }

    /// <summary>
    /// The teacher's run-ahead (<c>--teacher-lookahead k</c>): its update never depends on the students, so it is asked for up
    /// to k steps after the folded next step, never past the next boundary (an evaluation, a checkpoint, the end). Its replies
    /// wait in those steps; a step the students fold into later is not asked of the teacher again. A boundary reached early (a
    /// stop, an admission, a pause) gives the rest up and rewinds the teacher (<see cref="RewindTeacher"/>).
    /// </summary>
    private void RunAhead(StepState next)
    {
        if (settings.TeacherLookahead <= 0 || !TeacherFastPath) return;
        var teachers = cohort.Where(m => m.Role == ModelRole.Teacher).ToList();
        if (teachers.Count == 0) return;
        var tail = next;
        int ahead = 0;
        while (tail.Next is { } later) (tail, ahead) = (later, ahead + 1);
        while (ahead < settings.TeacherLookahead)
        {
            var after = schedule.After(new RunPosition(tail.Epoch, tail.Step, tail.GlobalStep - 1));
            if (after.EndedEpoch is not null || after.Checkpoint || after.Finished) return;
            var step = NewStep(tail.GlobalStep + 1, after.Next.Epoch, after.Next.Step);
            Request(step, teachers, RequestOf(step), teacher: true);
            (tail.Next, tail, ahead) = (step, step, ahead + 1);
        }
    }

    /// <summary>
    /// At a boundary, a teacher asked for steps past the ones completed (run-ahead given up, a folded next step abandoned with
    /// its step run again) takes their updates back, so that an evaluation, a checkpoint or the next request sees the network
    /// of the steps counted. Its requests went first, so it handles them before this.
    /// </summary>
    private void RewindTeacher()
    {
        if (teacherRequestedThrough <= position.CompletedSteps) return;
        foreach (var m in cohort.Where(m => m.Role == ModelRole.Teacher))
        {
            log.Debug("{0} was asked for steps through {1}; rewinding it to step {2}", m.Id, teacherRequestedThrough, m.CountedThrough);
            m.Actor.Tell(new Rewind(m.CountedThrough));
        }
        teacherRequestedThrough = position.CompletedSteps;
    }

    /// <summary>The step is abandoned uncounted; the policy decides when it runs again (with a new attempt id).</summary>
    private void RunAgain(StepState s, string why)
    {
        log.Warning("Training paused at step {0}: {1}; the step is run again", s.GlobalStep, why);
        RewindTeacher();
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

        if (s.Next is { } next)
        {
            // Folded: the next step is already running. It runs to its end; the policy decides at the next boundary. Its time
            // is counted from here (the interval between two completed steps), not from its request.
            GoTo(next, settings.StepTimeout);
            next.Clock.Restart();
            Advance(next);
            return;
        }
        RewindTeacher();
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
        int rows = EvaluationRows[p.Index], columns = plan.Task.OutputsPerImage;
        if (p.Count != rows || p.Classes != columns || p.Probabilities.Length != (long)rows * columns)
        {
            Malformed($"its predictions for evaluation batch {p.Index} are {p.Count} x {p.Classes} in {p.Probabilities.Length} values, where the batch asked for {rows} x {columns}");
            return;
        }
        parts[p.Index] = p.Probabilities;
        if (parts.Any(x => x is null)) return;
        e.Awaiting.Remove(Sender);
        if (e.Awaiting.Count == 0) CompleteEvaluation(e);
    }

    /// <summary>Images in each evaluation batch, in <see cref="TrainingPlan.EvaluationBatches"/>' order (the test split's, then the validation split's).</summary>
    private int[] EvaluationRows => evaluationRows ??= [.. plan.EvaluationBatchSizes()];

    private int[]? evaluationRows;

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
