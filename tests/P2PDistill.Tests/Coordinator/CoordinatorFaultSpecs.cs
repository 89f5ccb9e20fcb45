using Akka.Actor;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Coordinator;

/// <summary>
/// Every fault in every phase of the coordinator (issue 10): a departure, a timeout, a late or stale reply, a failure report,
/// a stop request, a pause. Probes stand in for the models; timeouts are injected, so nothing here waits for a clock.
/// The invariant checked throughout: every step is recorded exactly once, in order, and the run never hangs.
/// </summary>
[Trait("Category", "Fault")]
public sealed class CoordinatorFaultSpecs(ITestOutputHelper output) : CoordinatorHarness(output)
{
    private (ProbeModel T, ProbeModel S1, ProbeModel S2) Cohort(TrainingOptions? options = null, int minStudents = 2,
        TeacherLostPolicy teacherLost = TeacherLostPolicy.Wait, bool checkpoints = true)
    {
        Start(options, minStudents, teacherLost, checkpoints);
        return (Join(ModelRole.Teacher), Join(ModelRole.Student), Join(ModelRole.Student));
    }

    /// <summary>Step 1 of a 2-epoch run: the teacher and student-1 answer both halves, student-2 never answers the second; its deadline passes.</summary>
    private (ProbeModel T, ProbeModel S1, ProbeModel S2, List<ApplyTargets> Targets) StudentTwoMissesTheDoneTimeout()
    {
        var (t, s1, s2) = Cohort(Options(epochs: 2));
        var (steps, targets) = GatherLogits(t, s1, s2);
        Done(t, targets[0]);
        Done(s1, targets[1]);
        Timeout(steps[0].Attempt);
        return (t, s1, s2, targets);
    }

    // ------------------------------------------------------------ departures, one per phase

    [Fact]
    public void Should_finish_the_step_without_a_model_that_leaves_during_the_logits_gather()
    {
        var (t, s1, s2) = Cohort();
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Logits(t, steps[0]);
        Kill(s2);
        Logits(s1, steps[1]);
        var targets = ExpectTargets(s1);
        Assert.Equal(0, targets.Targets.Peers);
        Done(t, ExpectTargets(t));
        Done(s1, targets);

        Assert.Equal(2, RunStep(t, s1));
        Assert.Equal(["student-1", "teacher"], Recorder.Steps[0].Models.Select(m => m.Id).Order());
    }

    [Fact]
    public void Should_finish_the_step_without_a_model_that_leaves_during_the_done_gather()
    {
        var (t, s1, s2) = Cohort();
        var models = new[] { t, s1, s2 };
        var (steps, targets) = GatherLogits(models);
        Done(t, targets[0]);
        Done(s1, targets[1]);
        Kill(s2);

        Assert.Equal(2, RunStep(t, s1));
        AwaitAssert(() => Assert.Equal([1L, 2L], RecordedSteps));
    }

    [Fact]
    public void Should_complete_the_evaluation_without_a_model_that_leaves_during_it_and_record_no_phantom_step()
    {
        var (t, s1, s2) = Cohort();
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectEvaluation).ToList();
        Probabilities(t, requests[0]);
        Probabilities(s1, requests[1]);
        Kill(s2); // the last one the evaluation waits for

        Collect(t, s1); // the checkpoint
        Collect(t, s1); // the export
        var result = Result();

        Assert.True(result.Completed);
        Assert.Equal([1L, 2L], RecordedSteps);
        Assert.Equal(2, result.Steps);
        Assert.Equal(["student-1", "teacher"], result.Evaluations.Single().Models.Select(m => m.Id).Order());
        Assert.Equal(["step-00000002"], Checkpoints(CheckpointDirectory));
    }

    [Fact]
    public void Should_write_the_checkpoint_without_a_model_that_leaves_while_it_is_collected()
    {
        var (t, s1, s2) = Cohort();
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        Evaluate(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();
        State(t, requests[0]);
        State(s1, requests[1]);
        Kill(s2);

        Collect(t, s1); // the export
        var result = Result();

        Assert.True(result.Completed);
        Assert.Equal([1L, 2L], RecordedSteps);
        var manifest = CheckpointStore.ReadManifest(Path.Combine(CheckpointDirectory, "step-00000002"));
        Assert.Equal(["student-1", "teacher"], manifest.Models.Select(m => m.Id).Order());
    }

    [Fact]
    public void Should_complete_the_export_without_a_model_that_leaves_during_it()
    {
        var (t, s1, s2) = Cohort();
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        Evaluate(t, s1, s2);
        Collect(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();
        State(t, requests[0]);
        Kill(s1);
        State(s2, requests[2]);
        var result = Result();

        Assert.True(result.Completed);
        Assert.Equal([1L, 2L], RecordedSteps);
        Assert.Equal(["student-2", "teacher"], result.Exports!.Select(e => e.Setup.Id).Order());
    }

    // ------------------------------------------------------------ timeouts, one per phase

    [Fact]
    public void Should_drop_a_model_that_misses_the_logits_timeout_and_go_on()
    {
        var (t, s1, s2) = Cohort();
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Logits(t, steps[0]);
        Logits(s1, steps[1]);
        Timeout(steps[0].Attempt);

        Assert.Contains("timeout", s2.Probe.ExpectMsg<DroppedFromCohort>().Reason);
        Done(t, ExpectTargets(t));
        Done(s1, ExpectTargets(s1));
        Assert.Equal(2, RunStep(t, s1));
        AwaitAssert(() => Assert.Equal([1L, 2L], RecordedSteps));
    }

    [Fact]
    public void Should_complete_a_step_once_when_a_model_misses_the_done_timeout()
    {
        var (t, s1, s2, targets) = StudentTwoMissesTheDoneTimeout();

        s2.Probe.ExpectMsg<DroppedFromCohort>();
        var next = ExpectStep(t);
        Assert.Equal(2, next.GlobalStep);
        Assert.Equal(1, next.Step); // the second batch: none skipped
        Assert.Equal(2, ExpectStep(s1).GlobalStep);
        t.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal([1L], RecordedSteps);
    }

    [Fact]
    public void Should_leave_a_model_that_misses_the_evaluation_timeout_out_of_the_evaluation_only()
    {
        var (t, s1, s2) = Cohort(Options(epochs: 2));
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectEvaluation).ToList();
        Probabilities(t, requests[0]);
        Probabilities(s1, requests[1]);
        Timeout(requests[0].EvalId);

        Collect(t, s1, s2); // still in the cohort: it is asked for its state
        Assert.Equal(3, RunStep(t, s1, s2));
        Assert.Equal(["student-1", "teacher"], Recorder.Evaluations.Single().Models.Select(m => m.Id).Order());
    }

    [Fact]
    public void Should_write_the_checkpoint_with_what_arrived_when_the_collection_times_out()
    {
        var (t, s1, s2) = Cohort(Options(checkpointEvery: 1));
        RunStep(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();
        State(t, requests[0]);
        State(s1, requests[1]);
        Timeout(requests[0].ExportId);

        Assert.Equal(2, RunStep(t, s1, s2));
        var manifest = CheckpointStore.ReadManifest(Path.Combine(CheckpointDirectory, "step-00000001"));
        Assert.Equal(["student-1", "teacher"], manifest.Models.Select(m => m.Id).Order());
    }

    [Fact]
    public void Should_give_late_models_more_time_instead_of_dropping_them_right_after_its_own_freeze()
    {
        // A freeze threshold of 1 ms: every pulse looks late, as right after a SIGSTOP / SIGCONT of the coordinator.
        Start(frozenAfter: TimeSpan.FromMilliseconds(1));
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Logits(t, steps[0]);
        Logits(s1, steps[1]);
        Timeout(steps[0].Attempt);
        s2.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // not dropped

        Logits(s2, steps[2]);
        var targets = new[] { t, s1, s2 }.Select(ExpectTargets).ToList();
        Assert.Equal(1, targets[1].Targets.Peers);
        for (int i = 0; i < 3; i++) Done(new[] { t, s1, s2 }[i], targets[i]);
        Assert.Equal(2, RunStep(t, s1, s2));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Should_give_each_of_several_models_of_one_node_its_own_slot_back_after_they_were_dropped(bool reverse)
    {
        // The harness's probes all register from one node address: several model actors of one node (issue 14).
        var (t, s1, s2) = Cohort();
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Logits(t, steps[0]);
        Timeout(steps[0].Attempt);
        s1.Probe.ExpectMsg<DroppedFromCohort>();
        s2.Probe.ExpectMsg<DroppedFromCohort>();

        // They come back (as a dropped model actor does) in either order, and each takes its own slot and id again.
        foreach (var s in reverse ? new[] { s2, s1 } : [s1, s2])
        {
            s.Probe.Send(Coordinator, new RegisterModel("akka.tcp://p2pdistill@127.0.0.1:1", ModelRole.Student, "tiny", 1, 28, 28, Classes, WireLimits.Of(Sys).FrameBytes));
            var again = s.Probe.ExpectMsg<RegistrationAccepted>();
            Assert.Equal((s.Accepted.Slot, s.Id), (again.Slot, again.Setup.Id));
        }
    }

    // ------------------------------------------------------------ late and stale replies

    [Fact]
    public void Should_ignore_a_late_reply_from_a_dropped_model()
    {
        var (t, s1, s2, targets) = StudentTwoMissesTheDoneTimeout();
        s2.Probe.ExpectMsg<DroppedFromCohort>();

        Done(s2, targets[2]); // too late
        var next = new[] { t, s1 }.Select(ExpectStep).ToList();
        Logits(s2, next[0] with { }, attempt: next[0].Attempt); // not asked: ignored
        Logits(t, next[0]);
        Logits(s1, next[1]);
        var last = new[] { t, s1 }.Select(ExpectTargets).ToList();
        Assert.Equal(0, last[1].Targets.Peers);
        Done(t, last[0]);
        Done(s1, last[1]);
        Evaluate(t, s1);

        Assert.Equal([1L, 2L], RecordedSteps);
        Assert.Equal(["student-1", "teacher"], Recorder.Steps[0].Models.Select(m => m.Id).Order());
    }

    [Fact]
    public void Should_ignore_a_reply_with_a_stale_attempt_id()
    {
        var (t, s1, s2) = Cohort();
        var models = new[] { t, s1, s2 };
        var steps = models.Select(ExpectStep).ToList();
        Logits(t, steps[0], value: 100, attempt: steps[0].Attempt - 1); // from an earlier attempt of this step
        Logits(t, steps[0], value: 0);
        Logits(s1, steps[1]);
        Logits(s2, steps[2]);

        var targets = ExpectTargets(s1);
        Assert.All(targets.Targets.TeacherLogits!, v => Assert.Equal(0f, v));
    }

    // ------------------------------------------------------------ a model's failure report

    [Fact]
    public void Should_go_on_without_a_model_whose_step_failed_and_keep_it_in_the_cohort()
    {
        var (t, s1, s2) = Cohort();
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Logits(t, steps[0]);
        Logits(s1, steps[1]);
        s2.Probe.Send(Coordinator, new StepFailed(steps[2].Attempt, s2.Id, "InvalidOperationException: boom"));
        Done(t, ExpectTargets(t));
        Done(s1, ExpectTargets(s1));

        Assert.Equal(2, RunStep(t, s1, s2)); // still in the cohort, and never told to start afresh
        Assert.Equal(["student-1", "teacher"], Recorder.Steps[0].Models.Select(m => m.Id).Order());
    }

    // ------------------------------------------------------------ stop requested in each state

    [Fact]
    public void Should_stop_at_once_when_asked_while_waiting_for_members()
    {
        Start();
        var t = Join(ModelRole.Teacher);
        Coordinator.Tell(CoordinatorActor.StopRequested.Instance);

        var result = Result();
        Assert.False(result.Completed);
        Assert.False(result.Failed);
        Assert.False(t.Probe.ExpectMsg<TrainingFinished>().Completed);
        Assert.Empty(Checkpoints(CheckpointDirectory));
    }

    [Fact]
    public void Should_finish_the_step_then_checkpoint_and_stop_when_asked_during_a_step()
    {
        var (t, s1, s2) = Cohort();
        var models = new[] { t, s1, s2 };
        var steps = models.Select(ExpectStep).ToList();
        Coordinator.Tell(CoordinatorActor.StopRequested.Instance);
        for (int i = 0; i < 3; i++) Logits(models[i], steps[i]);
        var targets = models.Select(ExpectTargets).ToList();
        for (int i = 0; i < 3; i++) Done(models[i], targets[i]);
        var requests = models.Select(ExpectCollect).ToList();
        Assert.All(requests, c => Assert.True(c.FullState));
        for (int i = 0; i < 3; i++) State(models[i], requests[i]);

        var result = Result();
        Assert.False(result.Completed);
        Assert.Equal(1, result.Steps);
        Assert.Equal(["step-00000001"], Checkpoints(CheckpointDirectory));
        Assert.False(s1.Probe.ExpectMsg<TrainingFinished>().Completed);
    }

    [Fact]
    public void Should_finish_the_evaluation_and_its_checkpoint_then_stop_when_asked_while_evaluating()
    {
        var (t, s1, s2) = Cohort(Options(epochs: 2));
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectEvaluation).ToList();
        Coordinator.Tell(CoordinatorActor.StopRequested.Instance);
        for (int i = 0; i < 3; i++) Probabilities(new[] { t, s1, s2 }[i], requests[i]);
        Collect(t, s1, s2);

        var result = Result();
        Assert.False(result.Completed);
        Assert.Equal(2, result.Steps);
        Assert.Single(result.Evaluations);
        Assert.Equal(["step-00000002"], Checkpoints(CheckpointDirectory));
        t.Probe.ExpectMsg<TrainingFinished>();
    }

    [Fact]
    public void Should_finish_the_checkpoint_then_stop_when_asked_while_collecting()
    {
        var (t, s1, s2) = Cohort(Options(checkpointEvery: 1));
        RunStep(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();
        Coordinator.Tell(CoordinatorActor.StopRequested.Instance);
        for (int i = 0; i < 3; i++) State(new[] { t, s1, s2 }[i], requests[i]);

        var result = Result();
        Assert.False(result.Completed);
        Assert.Equal(1, result.Steps);
        Assert.Equal(["step-00000001"], Checkpoints(CheckpointDirectory));
        t.Probe.ExpectMsg<TrainingFinished>();
    }

    // ------------------------------------------------------------ the paused state

    [Fact]
    public void Should_resume_after_a_pause_with_a_teacher_and_fewer_students_than_min_students()
    {
        var (t, s1, s2) = Cohort(Options(epochs: 2), minStudents: 2);
        RunStep(t, s1, s2);
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Kill(t);
        Kill(s2);
        Logits(s1, steps[1]);
        Done(s1, ExpectTargets(s1)); // step 2 ends the epoch with the student alone
        Evaluate(s1);
        Collect(s1);
        s1.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // paused: no teacher

        var teacher = Join(ModelRole.Teacher);
        Assert.Equal(3, RunStep(teacher, s1));
    }

    [Fact]
    public void Should_stop_at_once_when_paused_right_after_a_checkpoint()
    {
        var (t, s1, s2) = Cohort(Options(epochs: 2));
        RunStep(t, s1, s2);
        Kill(t);
        var steps = new[] { s1, s2 }.Select(ExpectStep).ToList();
        Logits(s1, steps[0]);
        Logits(s2, steps[1]);
        Done(s1, ExpectTargets(s1));
        Done(s2, ExpectTargets(s2));
        Evaluate(s1, s2);
        Collect(s1, s2); // the epoch's checkpoint, then the pause: no teacher
        s1.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Coordinator.Tell(CoordinatorActor.StopRequested.Instance);

        var result = Result();
        Assert.False(result.Completed);
        Assert.False(result.Failed);
        Assert.Equal(["step-00000002"], Checkpoints(CheckpointDirectory));
    }

    [Fact]
    public void Should_checkpoint_the_models_alive_when_stopped_while_paused_with_steps_since_the_last_checkpoint()
    {
        var (t, s1, s2) = Cohort(Options(epochs: 2), teacherLost: TeacherLostPolicy.Wait);
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Kill(t); // during step 1: it finishes with the students, then the run pauses (no teacher)
        Logits(s1, steps[1]);
        Logits(s2, steps[2]);
        Done(s1, ExpectTargets(s1));
        Done(s2, ExpectTargets(s2));
        s1.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Coordinator.Tell(CoordinatorActor.StopRequested.Instance);

        Collect(s1, s2);
        var result = Result();
        Assert.False(result.Completed);
        Assert.False(result.Failed);
        Assert.Equal(1, result.Steps);
        Assert.Equal(["step-00000001"], Checkpoints(CheckpointDirectory));
        var manifest = CheckpointStore.ReadManifest(Path.Combine(CheckpointDirectory, "step-00000001"));
        Assert.Equal(["student-1", "student-2"], manifest.Models.Select(m => m.Id).Order());
    }

    // ------------------------------------------------------------ I/O failures end the run clearly

    [Fact]
    public void Should_fail_the_run_and_tell_the_models_when_the_metrics_cannot_be_written()
    {
        Start(observer: new FailingObserver());
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        RunStep(t, s1, s2);

        var result = Result();
        Assert.True(result.Failed);
        Assert.Contains("No space left on device", result.StopReason);
        Assert.Contains("metrics.csv", result.StopReason);
        Assert.False(s1.Probe.ExpectMsg<TrainingFinished>().Completed);
    }

    [Fact]
    public void Should_fail_the_run_naming_the_folder_when_a_checkpoint_cannot_be_written()
    {
        var blocked = Path.Combine(TempDirectory(), "not-a-folder");
        File.WriteAllText(blocked, "a file where the checkpoints folder should be");
        Start(Options(checkpointEvery: 1), checkpointDirectory: blocked);
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        RunStep(t, s1, s2);
        Collect(t, s1, s2);

        var result = Result();
        Assert.True(result.Failed);
        Assert.Contains(blocked, result.StopReason);
        Assert.False(t.Probe.ExpectMsg<TrainingFinished>().Completed);
    }

    // ------------------------------------------------------------ resume of a mixed-architecture cohort

    [Fact]
    public void Should_give_each_student_of_a_mixed_cohort_its_own_state_whatever_order_they_register_in()
    {
        var resume = new ResumePoint(2, 1, 0,
        [
            new ResumeModel("teacher", "tiny", TrainingOptions.ModelSeed(5, 0), 0, 2, [1, 1, 1]),
            new ResumeModel("student-1", "tiny", TrainingOptions.ModelSeed(5, 1), 1, 2, [2, 2, 2]),
            new ResumeModel("student-2", "mlp", TrainingOptions.ModelSeed(5, 2), 2, 2, [3, 3, 3]),
        ]);
        Start(Options(epochs: 2), resume: resume);

        var mlp = Restored(ModelRole.Student, "mlp");
        var tiny = Restored(ModelRole.Student, "tiny");
        var teacher = Restored(ModelRole.Teacher, "tiny");

        Assert.Equal("student-2", mlp.Id);
        Assert.Equal([3, 3, 3], mlp.State);
        Assert.Equal("student-1", tiny.Id);
        Assert.Equal([2, 2, 2], tiny.State);
        Assert.Equal("teacher", teacher.Id);
        Assert.Equal([1, 1, 1], teacher.State);
    }

    private (string Id, byte[] State) Restored(ModelRole role, string model)
    {
        var probe = CreateTestProbe();
        probe.Send(Coordinator, new RegisterModel("akka.tcp://p2pdistill@127.0.0.1:1", role, model, 1, 28, 28, Classes, WireLimits.Of(Sys).FrameBytes));
        var accepted = probe.ExpectMsg<RegistrationAccepted>(Wait);
        Assert.Equal(1, accepted.RestoreChunks);
        var chunk = probe.ExpectMsg<RestoreChunk>(Wait);
        return (accepted.Setup.Id, chunk.Data);
    }

    private sealed class FailingObserver : ITrainingObserver
    {
        public void OnStep(StepRecord step) => throw new IOException("No space left on device : '/run/p2p/metrics.csv'");
        public void OnEvaluation(EvalRecord evaluation) { }
    }
}
