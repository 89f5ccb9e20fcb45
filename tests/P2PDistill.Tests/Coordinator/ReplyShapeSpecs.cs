using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Coordinator;

/// <summary>
/// Issue 16 §1: the coordinator checks every reply's shape against what it asked for (rows = the batch, columns = the task's
/// outputs per image). A malformed reply is the fault of the model that sent it: it leaves the cohort, as on a timeout, and
/// its output never reaches a student.
/// </summary>
[Trait("Category", "Fault")]
public sealed class ReplyShapeSpecs(ITestOutputHelper output) : CoordinatorHarness(output)
{
    private (ProbeModel T, ProbeModel S1, ProbeModel S2) Cohort()
    {
        Start(Options(epochs: 1));
        return (Join(ModelRole.Teacher), Join(ModelRole.Student), Join(ModelRole.Student));
    }

    /// <summary>Logits of <paramref name="rows"/> x <paramref name="columns"/> (consistent in themselves, so the serializer lets them through).</summary>
    private void Malformed(ProbeModel m, TrainStep t, int rows, int columns) =>
        m.Probe.Send(Coordinator, new StepLogits(t.GlobalStep, m.Id, rows, columns, new float[rows * columns], 1, t.Attempt));

    [Theory]
    [InlineData(0, 1)] // a column too many
    [InlineData(-1, 0)] // a row too few
    [InlineData(1, -1)] // a row too many, a column too few
    public void Should_drop_a_teacher_whose_logits_do_not_have_the_steps_shape_and_never_forward_them(int extraRows, int extraColumns)
    {
        var (t, s1, s2) = Cohort();
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();

        Malformed(t, steps[0], steps[0].Batch.Count + extraRows, Classes + extraColumns);
        Logits(s1, steps[1], value: 1);
        Logits(s2, steps[2], value: 2);

        Assert.Contains("logits", t.Probe.ExpectMsg<DroppedFromCohort>(Wait).Reason);
        var targets = new[] { s1, s2 }.Select(ExpectTargets).ToList();
        Assert.All(targets, a => Assert.Null(a.Targets.TeacherLogits));
        Assert.All(targets, a => Assert.Equal(1, a.Targets.Peers));
        Done(s1, targets[0]);
        Done(s2, targets[1]);

        AwaitCondition(() => Recorder.Steps.Count == 1, Wait); // the step is counted without the teacher (the policy then waits for one)
        Assert.Equal(["student-1", "student-2"], Recorder.Steps[0].Models.Select(m => m.Id).Order());
    }

    [Fact]
    public void Should_drop_a_student_whose_logits_do_not_have_the_steps_shape_and_keep_them_from_its_peer()
    {
        var (t, s1, s2) = Cohort();
        var steps = new[] { t, s1, s2 }.Select(ExpectStep).ToList();

        Logits(t, steps[0]);
        Malformed(s1, steps[1], steps[1].Batch.Count, Classes * 2);
        Logits(s2, steps[2]);

        Assert.Contains("logits", s1.Probe.ExpectMsg<DroppedFromCohort>(Wait).Reason);
        Done(t, ExpectTargets(t));
        var targets = ExpectTargets(s2);
        Assert.Equal(0, targets.Targets.Peers);
        Assert.Equal(steps[2].Batch.Count * Classes, targets.Targets.TeacherLogits!.Length);
        Done(s2, targets);

        Assert.Equal(2, RunStep(t, s2));
    }

    [Fact]
    public void Should_leave_a_model_whose_predictions_do_not_have_the_batchs_shape_out_of_the_evaluation()
    {
        var (t, s1, s2) = Cohort();
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        var requests = new[] { t, s1, s2 }.Select(ExpectEvaluation).ToList();
        Probabilities(t, requests[0]);
        Probabilities(s1, requests[1]);
        int rows = requests[2].Batch.Count;
        s2.Probe.Send(Coordinator, new EvalProbabilities(requests[2].EvalId, requests[2].Index, s2.Id, rows, Classes + 1, new float[rows * (Classes + 1)]));

        Assert.Contains("predictions", s2.Probe.ExpectMsg<DroppedFromCohort>(Wait).Reason);
        Collect(t, s1); // the checkpoint
        Collect(t, s1); // the export
        var result = Result();

        Assert.True(result.Completed);
        Assert.Equal(["student-1", "teacher"], result.Evaluations.Single().Models.Select(m => m.Id).Order());
    }
}
