using Akka.Actor;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Coordinator;

/// <summary>
/// The folded step protocol (issue 14, docs/design/step-protocol.md): the teacher trains the whole step on its batch, and a
/// student's targets travel with the next step's batch, one round trip per step. Synthetic data of 64 training images,
/// batch 8: eight steps per epoch, of which steps 1–7 fold into the next one and step 8 ends the epoch.
/// </summary>
[Trait("Category", "Unit")]
public sealed class FoldedProtocolSpecs(ITestOutputHelper output) : CoordinatorHarness(output)
{
    private (ProbeModel T, ProbeModel S1, ProbeModel S2) Cohort(int epochs = 1, int checkpointEvery = 0)
    {
        Start(Options(epochs: epochs, checkpointEvery: checkpointEvery, batch: 8), protocol: StepProtocol.Folded);
        return (Join(ModelRole.Teacher), Join(ModelRole.Student), Join(ModelRole.Student));
    }

    /// <summary>Step 1 of a fresh cohort: the teacher's whole step and the students' batches, answered.</summary>
    private (TrainStep Teacher, ApplyAndTrain F1, ApplyAndTrain F2) FirstStep(ProbeModel t, ProbeModel s1, ProbeModel s2)
    {
        AnswerStep(t, s1, s2);
        return (ExpectWholeStep(t), ExpectFold(s1), ExpectFold(s2));
    }

    [Fact]
    public void Should_train_the_teacher_on_its_batch_alone_and_fold_each_students_targets_into_the_next_step()
    {
        var (t, s1, s2) = Cohort();

        var (teacher2, f1, f2) = FirstStep(t, s1, s2);

        // The teacher gets no targets: its next request is the batch of step 2, sent with the students' folds.
        Assert.Equal(2, teacher2.GlobalStep);
        Assert.Same(f1.Next, f2.Next); // one request object for every student: its batch is built and encoded once
        Assert.Same(teacher2.Batch, ((TrainStep)f1.Next).Batch);
        foreach (var f in new[] { f1, f2 })
        {
            Assert.Equal(1, f.Apply.GlobalStep);
            Assert.NotNull(f.Apply.Targets.TeacherLogits);
            var next = Assert.IsType<TrainStep>(f.Next);
            Assert.Equal(2, next.GlobalStep);
            Assert.False(next.WholeStep);
            Assert.Equal(teacher2.Attempt, next.Attempt);
            Assert.NotEqual(f.Apply.Attempt, next.Attempt);
        }

        // Steps 2..7 fold likewise; step 8 ends the epoch and is not folded: plain targets, then the evaluation.
        var (teacher, folds) = (teacher2, new[] { f1, f2 });
        for (long step = 2; step <= 8; step++)
        {
            TeacherStep(t, teacher);
            AnswerFold(s1, folds[0]);
            AnswerFold(s2, folds[1]);
            if (step == 8) break;
            teacher = ExpectWholeStep(t);
            folds = [ExpectFold(s1), ExpectFold(s2)];
            Assert.Equal(step + 1, teacher.GlobalStep);
            Assert.All(folds, f => Assert.Equal(step, f.Apply.GlobalStep));
        }
        var last = new[] { s1, s2 }.Select(ExpectTargets).ToList();
        Assert.All(last, a => Assert.Equal(8, a.GlobalStep));
        Done(s1, last[0]);
        Done(s2, last[1]);
        for (int batch = 0; batch < Plan.EvaluationBatchCount; batch++) Evaluate(t, s1, s2); // 16 test images in batches of 8
        Collect(t, s1, s2);
        Collect(t, s1, s2);

        var result = Result();
        Assert.True(result.Completed);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), RecordedSteps);
        Assert.All(Recorder.Steps, s => Assert.Equal(["student-1", "student-2", "teacher"], s.Models.Select(m => m.Id).Order()));
    }

    [Fact]
    public void Should_complete_a_step_before_the_folded_next_one_even_when_the_teacher_answers_the_next_first()
    {
        var (t, s1, s2) = Cohort();
        var (teacher2, f1, f2) = FirstStep(t, s1, s2);

        TeacherStep(t, teacher2); // the teacher is ahead: step 2 is its own, done before the students finished step 1
        Done(s1, f1.Apply);
        t.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Empty(RecordedSteps);

        Done(s2, f2.Apply);
        AwaitCondition(() => RecordedSteps.Count == 1);
        Logits(s1, (TrainStep)f1.Next);
        Logits(s2, (TrainStep)f2.Next);

        // Step 2 completes with the teacher's early answers: step 3 is requested.
        Assert.Equal(3, ExpectWholeStep(t).GlobalStep);
        var folds = new[] { ExpectFold(s1), ExpectFold(s2) };
        Assert.All(folds, f => Assert.Equal(2, f.Apply.GlobalStep));
    }

    [Fact]
    public void Should_not_fold_into_the_step_after_a_checkpoint()
    {
        var (t, s1, s2) = Cohort(checkpointEvery: 1);
        AnswerStep(t, s1, s2);

        // A checkpoint follows step 1: plain targets, then the collection; the next step starts after it.
        Done(s1, ExpectTargets(s1));
        Done(s2, ExpectTargets(s2));
        Collect(t, s1, s2);
        Assert.Equal(2, ExpectWholeStep(t).GlobalStep);
        Assert.Equal(2, ExpectStep(s1).GlobalStep);
    }

    [Fact]
    public void Should_admit_a_student_that_became_ready_at_the_next_boundary_without_folding_into_it()
    {
        var (t, s1, s2) = Cohort();
        var teacher = ExpectWholeStep(t);
        var b1 = ExpectStep(s1);
        var b2 = ExpectStep(s2);
        var s3 = Join(ModelRole.Student); // ready during step 1

        TeacherStep(t, teacher);
        Logits(s1, b1);
        Logits(s2, b2);
        Done(s1, ExpectTargets(s1));
        Done(s2, ExpectTargets(s2));

        Assert.Equal(2, ExpectWholeStep(t).GlobalStep);
        Assert.All(new[] { s1, s2, s3 }, s => Assert.Equal(2, ExpectStep(s).GlobalStep));
    }
}

/// <summary>Faults under the folded protocol: departures, timeouts, failures and stops while the next step is already requested.</summary>
/// <summary>
/// The teacher's run-ahead (issue 14, <c>--teacher-lookahead k</c>): its update never depends on the students, so it is asked
/// for up to k steps after the folded next step, never past a boundary; a boundary reached early rewinds it.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TeacherRunAheadSpecs(ITestOutputHelper output) : CoordinatorHarness(output)
{
    [Fact]
    public void Should_ask_the_teacher_up_to_k_steps_ahead_never_again_for_a_step_and_never_past_the_end_of_the_epoch()
    {
        Start(Options(epochs: 1, batch: 8), protocol: StepProtocol.Folded, teacherLookahead: 2); // 8 steps, an evaluation after step 8
        var (t, s1, s2) = (Join(ModelRole.Teacher), Join(ModelRole.Student), Join(ModelRole.Student));
        AnswerStep(t, s1, s2);
        var folds = new[] { ExpectFold(s1), ExpectFold(s2) };
        var asked = new List<TrainStep> { ExpectWholeStep(t), ExpectWholeStep(t), ExpectWholeStep(t) };
        Assert.Equal([2L, 3L, 4L], asked.Select(a => a.GlobalStep)); // the fold's step 2, and 2 steps after it
        foreach (var request in asked) TeacherStep(t, request); // the teacher answers at once: it is ahead

        for (long step = 1; step <= 7; step++)
        {
            AnswerFold(s1, folds[0]); // step-done of `step`, logits of step + 1
            AnswerFold(s2, folds[1]);
            if (step == 7) break;
            folds = [ExpectFold(s1), ExpectFold(s2)];
            Assert.All(folds, f => Assert.Equal(step + 1, f.Apply.GlobalStep));
            if (step + 4 > 8) continue; // never past the end of the epoch
            var request = ExpectWholeStep(t); // the students fold into step + 2, which the teacher has answered: it gets step + 4
            Assert.Equal(step + 4, request.GlobalStep);
            asked.Add(request);
            TeacherStep(t, request);
        }
        var last = new[] { s1, s2 }.Select(ExpectTargets).ToList(); // step 8 ends the epoch: plain targets
        Assert.All(last, a => Assert.Equal(8, a.GlobalStep));
        Done(s1, last[0]);
        Done(s2, last[1]);

        Assert.Equal(Enumerable.Range(2, 7).Select(i => (long)i), asked.Select(a => a.GlobalStep)); // each step once, none past step 8
        // Each request says which steps were counted for the teacher when it left: the teacher keeps undo copies of the rest.
        Assert.All(asked, a => Assert.InRange(a.CountedThrough, Math.Max(0, a.GlobalStep - 4), a.GlobalStep - 4 < 0 ? 0 : a.GlobalStep - 4));
        for (int batch = 0; batch < Plan.EvaluationBatchCount; batch++) Evaluate(t, s1, s2);
        Collect(t, s1, s2);
        Collect(t, s1, s2);
        var result = Result();
        Assert.True(result.Completed);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), RecordedSteps); // (a rewind would have failed the evaluation's expectations)
    }

    [Fact]
    public void Should_rewind_a_teacher_that_ran_ahead_when_a_stop_ends_the_run_before_those_steps()
    {
        Start(Options(epochs: 1, batch: 8), protocol: StepProtocol.Folded, teacherLookahead: 2);
        var (t, s1, s2) = (Join(ModelRole.Teacher), Join(ModelRole.Student), Join(ModelRole.Student));
        AnswerStep(t, s1, s2);
        var ahead = new[] { ExpectWholeStep(t), ExpectWholeStep(t), ExpectWholeStep(t) }; // steps 2, 3 and 4
        foreach (var request in ahead) TeacherStep(t, request);
        var folds = new[] { ExpectFold(s1), ExpectFold(s2) };

        Coordinator.Tell(CoordinatorActor.StopRequested.Instance);
        AnswerFold(s1, folds[0]);
        AnswerFold(s2, folds[1]);
        // Step 2 was folded already: it runs to its end, with plain targets; steps 3 and 4 are given up.
        var last = new[] { s1, s2 }.Select(ExpectTargets).ToList();
        Assert.All(last, a => Assert.Equal(2, a.GlobalStep));
        Done(s1, last[0]);
        Done(s2, last[1]);

        // Before the final checkpoint collects its state, the teacher takes back what it trained past step 2.
        var rewind = t.Probe.ExpectMsg<Rewind>(Wait);
        Assert.Equal(2, rewind.CountedThrough);
        Collect(t, s1, s2);
        var result = Result();
        Assert.False(result.Completed);
        Assert.Equal([1L, 2L], RecordedSteps);
    }
}

[Trait("Category", "Fault")]
public sealed class FoldedProtocolFaultSpecs(ITestOutputHelper output) : CoordinatorHarness(output)
{
    private (ProbeModel T, ProbeModel S1, ProbeModel S2, TrainStep Teacher2, ApplyAndTrain F1, ApplyAndTrain F2) FoldedAtStep1(int epochs = 1)
    {
        Start(Options(epochs: epochs, batch: 8), protocol: StepProtocol.Folded);
        var (t, s1, s2) = (Join(ModelRole.Teacher), Join(ModelRole.Student), Join(ModelRole.Student));
        AnswerStep(t, s1, s2);
        return (t, s1, s2, ExpectWholeStep(t), ExpectFold(s1), ExpectFold(s2));
    }

    [Fact]
    public void Should_finish_a_folded_step_without_a_student_that_leaves_and_run_the_next_without_it()
    {
        var (t, s1, s2, teacher2, f1, _) = FoldedAtStep1();

        Kill(s2);
        Done(s1, f1.Apply);
        AwaitCondition(() => RecordedSteps.Count == 1);
        Assert.Equal(["student-1", "teacher"], Recorder.Steps[0].Models.Select(m => m.Id).Order());

        TeacherStep(t, teacher2);
        Logits(s1, (TrainStep)f1.Next);
        var f = ExpectFold(s1);
        Assert.Equal(2, f.Apply.GlobalStep);
        Assert.Equal(3, ExpectWholeStep(t).GlobalStep);
    }

    [Fact]
    public void Should_drop_a_student_that_misses_the_timeout_of_a_folded_step_with_the_steps_counted_for_it()
    {
        var (t, s1, s2, teacher2, f1, f2) = FoldedAtStep1();

        Done(s1, f1.Apply);
        Timeout(f2.Apply.Attempt); // s2 is silent
        var dropped = s2.Probe.ExpectMsg<DroppedFromCohort>();
        Assert.Equal(0, dropped.CountedThrough); // step 1 was not counted for it: if it applied it, it takes that update back
        AwaitCondition(() => RecordedSteps.Count == 1);

        TeacherStep(t, teacher2);
        Logits(s1, (TrainStep)f1.Next);
        Assert.Equal(2, ExpectFold(s1).Apply.GlobalStep);
        Done(s2, f2.Apply); // too late: ignored
        Logits(s2, (TrainStep)f2.Next, attempt: ((TrainStep)f2.Next).Attempt);
        Assert.Equal(3, ExpectWholeStep(t).GlobalStep);
        s2.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Should_run_the_folded_next_step_without_a_student_whose_backward_failed_and_send_it_the_following_batch()
    {
        var (t, s1, s2, teacher2, f1, f2) = FoldedAtStep1();

        Done(s1, f1.Apply);
        s2.Probe.Send(Coordinator, new StepFailed(f2.Apply.Attempt, s2.Id, "boom"));
        s2.Probe.Send(Coordinator, new StepFailed(f2.NextAttempt, s2.Id, "the step before it failed in this model"));
        AwaitCondition(() => RecordedSteps.Count == 1);

        TeacherStep(t, teacher2);
        Logits(s1, (TrainStep)f1.Next);
        Assert.Equal(2, ExpectFold(s1).Apply.GlobalStep);
        // s2 kept its network and stays in the cohort: it gets step 3's batch on its own, without targets for step 2.
        var plain = ExpectStep(s2);
        Assert.Equal(3, plain.GlobalStep);
        Assert.Equal(3, ExpectWholeStep(t).GlobalStep);
    }

    [Fact]
    public void Should_finish_the_folded_next_step_then_checkpoint_and_stop_when_a_stop_is_requested()
    {
        var (t, s1, s2, teacher2, f1, f2) = FoldedAtStep1();

        Coordinator.Tell(CoordinatorActor.StopRequested.Instance, ActorRefs.NoSender);
        Done(s1, f1.Apply);
        Done(s2, f2.Apply);
        TeacherStep(t, teacher2);
        Logits(s1, (TrainStep)f1.Next);
        Logits(s2, (TrainStep)f2.Next);

        // Step 2 was already requested: it ends with plain targets (no fold after a stop request), then the final checkpoint.
        var last = new[] { s1, s2 }.Select(ExpectTargets).ToList();
        Assert.All(last, a => Assert.Equal(2, a.GlobalStep));
        Done(s1, last[0]);
        Done(s2, last[1]);
        Collect(t, s1, s2);

        var result = Result();
        Assert.False(result.Completed);
        Assert.Equal([1L, 2L], RecordedSteps);
        foreach (var m in new[] { t, s1, s2 }) Assert.Equal(2, m.Probe.ExpectMsg<TrainingFinished>().CountedThrough);
    }

    [Fact]
    public void Should_ignore_answers_to_a_folded_next_step_after_the_step_is_run_again()
    {
        var (t, s1, s2, teacher2, f1, f2) = FoldedAtStep1();

        // Every model leaves before finishing step 1: it is run again when the cohort is back, with new attempt ids.
        Kill(t);
        Kill(s1);
        Kill(s2);
        var n1 = Join(ModelRole.Student);
        var n2 = Join(ModelRole.Student);
        var t2 = Join(ModelRole.Teacher); // last: under --teacher-lost wait the step starts with the teacher
        var again = ExpectWholeStep(t2);
        Assert.Equal(1, again.GlobalStep);
        Assert.NotEqual(teacher2.Attempt, again.Attempt);
        var b1 = ExpectStep(n1);
        var b2 = ExpectStep(n2);

        Logits(n1, b1, value: 100, attempt: teacher2.Attempt); // an answer to the abandoned step 2: ignored
        TeacherStep(t2, again);
        Logits(n1, b1);
        Logits(n2, b2);
        var folds = new[] { ExpectFold(n1), ExpectFold(n2) };
        Assert.All(folds, f => Assert.Equal(1, f.Apply.GlobalStep));
        Assert.Empty(RecordedSteps);
    }

    [Fact]
    public void Should_write_the_step_before_failing_the_run_on_a_refused_folded_next_step()
    {
        var (t, s1, s2, teacher2, f1, f2) = FoldedAtStep1();

        // The teacher's loss of step 2 is not finite while step 1 still gathers its step-done replies.
        Logits(t, teacher2);
        t.Probe.Send(Coordinator, new StepDone(2, t.Id, double.NaN, double.NaN, 0, 0, 0, 1e-3, false, 1, teacher2.Attempt));
        Done(s1, f1.Apply);
        Done(s2, f2.Apply);

        var result = Result();
        Assert.True(result.Failed);
        Assert.Contains("not finite at epoch 1 step 2", result.StopReason);
        Assert.Equal([1L], RecordedSteps); // step 1 was finished by everyone: it is written before the run fails
    }
}
