using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Coordinator;

/// <summary>The coordinator's transitions without faults: waiting → steps → evaluation → checkpoint → export → finished.</summary>
[Trait("Category", "Unit")]
public sealed class CoordinatorProtocolSpecs(ITestOutputHelper output) : CoordinatorHarness(output)
{
    [Fact]
    public void Should_run_an_epoch_then_evaluate_checkpoint_export_and_tell_every_model_it_is_over()
    {
        Start();
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);

        Assert.Equal(1, RunStep(t, s1, s2));
        Assert.Equal(2, RunStep(t, s1, s2));
        Evaluate(t, s1, s2);
        var checkpoint = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();
        Assert.All(checkpoint, c => Assert.True(c.FullState));
        for (int i = 0; i < 3; i++) State(new[] { t, s1, s2 }[i], checkpoint[i]);
        var export = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();
        Assert.All(export, c => Assert.False(c.FullState));
        for (int i = 0; i < 3; i++) State(new[] { t, s1, s2 }[i], export[i]);

        var result = Result();
        Assert.True(result.Completed);
        Assert.False(result.Failed);
        Assert.Equal(2, result.Steps);
        Assert.Equal([1L, 2L], RecordedSteps);
        Assert.Single(result.Evaluations);
        Assert.Equal(["student-1", "student-2", "teacher"], result.Evaluations[0].Models.Select(m => m.Id).Order());
        Assert.Equal(["step-00000002"], Checkpoints(CheckpointDirectory));
        Assert.Equal(3, result.Exports!.Count);
        Assert.All(result.Exports, e => Assert.True(File.Exists(e.WeightsPath)));
        foreach (var m in new[] { t, s1, s2 }) Assert.True(m.Probe.ExpectMsg<TrainingFinished>().Completed);
    }

    [Fact]
    public void Should_wait_for_the_teacher_and_min_students_before_the_first_step()
    {
        Start(minStudents: 2);
        var s1 = Join(ModelRole.Student);
        var t = Join(ModelRole.Teacher);
        t.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        var s2 = Join(ModelRole.Student);

        Assert.Equal(1, RunStep(t, s1, s2));
    }

    [Fact]
    public void Should_admit_a_model_that_registers_during_the_logits_gather_at_the_next_step()
    {
        Start(Options(epochs: 2));
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();

        var late = Join(ModelRole.Student);
        for (int i = 0; i < 3; i++) Logits(new[] { t, s1, s2 }[i], steps[i]);
        var targets = new[] { t, s1, s2 }.Select(ExpectTargets).ToList();
        Assert.All(targets.Skip(1), a => Assert.Equal(1, a.Targets.Peers));
        for (int i = 0; i < 3; i++) Done(new[] { t, s1, s2 }[i], targets[i]);

        Assert.Equal(2, RunStep(t, s1, s2, late));
        Assert.Equal("student-3", late.Id);
    }

    [Fact]
    public void Should_admit_a_model_that_registers_during_the_done_gather_at_the_next_step()
    {
        Start(Options(epochs: 2));
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        var models = new[] { t, s1, s2 };
        var (steps, targets) = GatherLogits(models);

        var late = Join(ModelRole.Student);
        for (int i = 0; i < 3; i++) Done(models[i], targets[i]);

        Assert.Equal(2, RunStep(t, s1, s2, late));
    }

    [Fact]
    public void Should_admit_a_model_that_registers_while_evaluating_or_collecting_at_the_next_epoch()
    {
        Start(Options(epochs: 2));
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);

        var duringEval = Join(ModelRole.Student);
        Evaluate(t, s1, s2);
        var duringCollect = Join(ModelRole.Student);
        Collect(t, s1, s2);

        Assert.Equal(3, RunStep(t, s1, s2, duringEval, duringCollect));
        Assert.Equal(["step-00000002"], Checkpoints(CheckpointDirectory));
    }

    [Fact]
    public void Should_accept_a_model_that_registers_during_the_export_without_asking_it_for_weights()
    {
        Start();
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        Evaluate(t, s1, s2);
        Collect(t, s1, s2); // the checkpoint
        var export = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();

        var late = Join(ModelRole.Student);
        for (int i = 0; i < 3; i++) State(new[] { t, s1, s2 }[i], export[i]);

        var result = Result();
        Assert.True(result.Completed);
        Assert.Equal(["student-1", "student-2", "teacher"], result.Exports!.Select(e => e.Setup.Id).Order());
        Assert.True(late.Probe.ExpectMsg<TrainingFinished>().Completed); // told the run is over, never asked for weights
    }

    [Fact]
    public void Should_refuse_a_registration_once_the_run_has_finished()
    {
        Start(checkpoints: false);
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        Evaluate(t, s1, s2);
        Assert.True(Result().Completed);

        var probe = CreateTestProbe();
        probe.Send(Coordinator, new RegisterModel("akka.tcp://p2pdistill@127.0.0.1:1", ModelRole.Student, "tiny", 1, 28, 28, Classes, WireLimits.Of(Sys).FrameBytes));
        Assert.Contains("finished", probe.ExpectMsg<RegistrationRefused>().Reason);
    }

    [Fact]
    public void Should_checkpoint_every_n_steps_and_go_on_training()
    {
        Start(Options(checkpointEvery: 1));
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);

        RunStep(t, s1, s2);
        Collect(t, s1, s2);
        Assert.Equal(2, RunStep(t, s1, s2));
        Assert.Equal(["step-00000001"], Checkpoints(CheckpointDirectory));
    }

    [Fact]
    public void Should_give_a_restarted_student_its_slots_state_from_the_newest_checkpoint()
    {
        Start(Options(epochs: 2, checkpointEvery: 1));
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        RunStep(t, s1, s2);
        Collect(t, s1, s2);
        var step2 = new[] { t, s1, s2 }.Select(ExpectStep).ToList();
        Kill(s2);
        Logits(t, step2[0]);
        Logits(s1, step2[1]);
        Done(t, ExpectTargets(t));
        Done(s1, ExpectTargets(s1));

        var back = Join(ModelRole.Student, ready: false);
        Assert.Equal("student-2", back.Id);
        Assert.Equal(1, back.Accepted.RestoreChunks);
        Assert.Equal(1, back.Accepted.RestoreStep);
    }
}
