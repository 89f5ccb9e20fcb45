using P2PDistill.Shared.Hosting;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// A model applies exactly the steps its coordinator counted: a step's update is held until the coordinator's next request
/// (or a drop or the end that says which steps it counted). A model dropped from a step it answered too late (frozen,
/// SIGSTOP) never applies that step, so its optimizer steps always equal its rows in the metrics.
/// </summary>
[Trait("Category", "Fault")]
public sealed class HeldUpdateSpecs() : TestKit(NodeHocon.InProcess("WARNING"))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private (IActorRef Model, Akka.TestKit.TestProbe Coordinator, TrainingPlan Plan) Student() => Accepted(ModelRole.Student, slot: 1, seed: 7);

    private (IActorRef Model, Akka.TestKit.TestProbe Coordinator, TrainingPlan Plan) Teacher() => Accepted(ModelRole.Teacher, slot: 0, seed: 3);

    /// <summary>A tiny model actor whose coordinator is a probe: registered, accepted and ready.</summary>
    private (IActorRef Model, Akka.TestKit.TestProbe Coordinator, TrainingPlan Plan) Accepted(ModelRole role, int slot, int seed)
    {
        var plan = TestCohorts.SmallPlan(); // 1x28x28, 4 classes
        var data = plan.Splits;
        var coordinator = CreateTestProbe("coordinator");
        var model = Sys.ActorOf(ModelActor.Props(new ModelActorSettings(role, "tiny", plan.Spec, coordinator.Ref)), role == ModelRole.Teacher ? "teacher" : "student");
        coordinator.ExpectMsg<RegisterModel>(Wait);
        coordinator.Reply(new RegistrationAccepted(slot, TestCohorts.Setup("tiny", role, data, seed: seed)));
        coordinator.ExpectMsg<ModelReady>(Wait);
        return (model, coordinator, plan);
    }

    private long StepsApplied(IActorRef model)
    {
        var probe = CreateTestProbe();
        model.Tell(GetParameters.Instance, probe.Ref);
        return probe.ExpectMsg<ModelParameters>(Wait).StepsApplied;
    }

    private static void Step(IActorRef model, Akka.TestKit.TestProbe coordinator, TrainingPlan plan, long step)
    {
        model.Tell(new TrainStep(step, 0, (int)step - 1, plan.TrainBatch(0, (int)step - 1), Attempt: step), coordinator.Ref);
        coordinator.ExpectMsg<StepLogits>(Wait);
        model.Tell(new ApplyTargets(step, DistillTargets.None, step), coordinator.Ref);
        Assert.True(coordinator.ExpectMsg<StepDone>(Wait).Applied);
    }

    [Fact]
    public void Should_apply_a_step_when_the_next_request_shows_the_coordinator_counted_it()
    {
        var (model, coordinator, plan) = Student();
        Step(model, coordinator, plan, 1);
        Assert.Equal(0, StepsApplied(model));

        Step(model, coordinator, plan, 2); // its TrainStep commits step 1
        Assert.Equal(1, StepsApplied(model));
    }

    [Fact]
    public void Should_drop_the_update_of_a_step_the_coordinator_did_not_count_when_dropped()
    {
        var (model, coordinator, plan) = Student();
        Step(model, coordinator, plan, 1);
        Step(model, coordinator, plan, 2);

        model.Tell(new DroppedFromCohort("missed the step timeout", CountedThrough: 1), coordinator.Ref);
        coordinator.ExpectMsg<RegisterModel>(Wait); // it registers again, with the network of step 1
        Assert.Equal(1, StepsApplied(model));
    }

    [Fact]
    public void Should_apply_the_last_counted_step_when_the_run_ends()
    {
        var (model, coordinator, plan) = Student();
        Step(model, coordinator, plan, 1);

        model.Tell(new TrainingFinished(true, null, CountedThrough: 1), coordinator.Ref);
        AwaitAssert(() => Assert.Equal(1, StepsApplied(model)), Wait);
    }

    // ---------------------------------------------------------------- the folded protocol (issue 14)

    private static void WholeStep(IActorRef model, Akka.TestKit.TestProbe coordinator, TrainingPlan plan, long step, long attempt, long countedThrough = -1)
    {
        int batch = (int)((step - 1) % plan.StepsPerEpoch); // the synthetic epoch has two batches
        model.Tell(new TrainStep(step, 0, batch, plan.TrainBatch(0, batch), attempt, WholeStep: true, CountedThrough: countedThrough), coordinator.Ref);
        Assert.Equal(attempt, coordinator.ExpectMsg<StepLogits>(Wait).Attempt);
        var done = coordinator.ExpectMsg<StepDone>(Wait);
        Assert.True(done.Applied);
        Assert.Equal((step, attempt), (done.GlobalStep, done.Attempt));
        Assert.True(done.Kd == 0 && done.Ml == 0 && done.Loss == done.Ce, "the teacher's loss is CE only");
    }

    [Fact]
    public void Should_train_a_teachers_whole_step_on_its_batch_and_apply_it_at_the_next_request()
    {
        var (model, coordinator, plan) = Teacher();
        WholeStep(model, coordinator, plan, 1, attempt: 1);
        Assert.Equal(0, StepsApplied(model)); // held until the next request shows the step was counted

        WholeStep(model, coordinator, plan, 2, attempt: 2);
        Assert.Equal(1, StepsApplied(model));
    }

    [Fact]
    public void Should_drop_the_held_update_of_a_step_that_is_run_again()
    {
        var (model, coordinator, plan) = Teacher();
        WholeStep(model, coordinator, plan, 1, attempt: 1);
        WholeStep(model, coordinator, plan, 2, attempt: 2); // step 2's update is held; then the coordinator gives step 2 up

        WholeStep(model, coordinator, plan, 2, attempt: 5); // step 2 again: its earlier update is dropped, not applied
        Assert.Equal(1, StepsApplied(model));
        WholeStep(model, coordinator, plan, 3, attempt: 6);
        Assert.Equal(2, StepsApplied(model));
    }

    /// <summary>
    /// The teacher's next whole step leaves before the coordinator counted its last one (the fold's timing), so it applies that
    /// update undoably: a drop that did not count it (a teacher frozen in its backward) takes it back.
    /// </summary>
    [Fact]
    public void Should_take_back_a_teachers_step_applied_by_its_next_whole_step_when_the_coordinator_did_not_count_it()
    {
        var (model, coordinator, plan) = Teacher();
        var initial = Parameters(model);
        WholeStep(model, coordinator, plan, 1, attempt: 1);
        WholeStep(model, coordinator, plan, 2, attempt: 2); // applies step 1 before the forward of step 2
        Assert.Equal(1, StepsApplied(model));

        model.Tell(new DroppedFromCohort("missed the step timeout", CountedThrough: 0), coordinator.Ref);
        coordinator.ExpectMsg<RegisterModel>(Wait);
        Assert.Equal(0, StepsApplied(model));
        Assert.Equal(initial, Parameters(model));
    }

    [Fact]
    public void Should_keep_a_teachers_steps_the_coordinator_counted()
    {
        var (model, coordinator, plan) = Teacher();
        WholeStep(model, coordinator, plan, 1, attempt: 1);
        WholeStep(model, coordinator, plan, 2, attempt: 2);
        WholeStep(model, coordinator, plan, 3, attempt: 3); // shows step 1 counted; applies step 2 undoably

        model.Tell(new TrainingFinished(true, null, CountedThrough: 2), coordinator.Ref);
        AwaitAssert(() => Assert.Equal(2, StepsApplied(model)), Wait); // step 2 kept, step 3's held update dropped
    }

    /// <summary>
    /// Run-ahead (issue 14): the teacher is asked for steps 2 and 3 before step 1 is counted; it applies steps 1 and 2 undoably
    /// and holds step 3. A boundary reached early rewinds it to the steps counted.
    /// </summary>
    [Fact]
    public void Should_take_back_the_steps_a_teacher_ran_ahead_when_rewound_to_the_steps_counted()
    {
        var (model, coordinator, plan) = Teacher();
        WholeStep(model, coordinator, plan, 1, attempt: 1, countedThrough: 0);
        WholeStep(model, coordinator, plan, 2, attempt: 2, countedThrough: 0);
        var afterStep1 = Parameters(model);
        WholeStep(model, coordinator, plan, 3, attempt: 3, countedThrough: 0);
        Assert.Equal(2, StepsApplied(model));

        model.Tell(new Rewind(CountedThrough: 1), coordinator.Ref);
        Assert.Equal(1, StepsApplied(model)); // step 2 taken back, step 3's held update dropped
        Assert.Equal(afterStep1, Parameters(model));

        WholeStep(model, coordinator, plan, 2, attempt: 9, countedThrough: 1); // and it trains on from there
        WholeStep(model, coordinator, plan, 3, attempt: 10, countedThrough: 2);
        Assert.Equal(2, StepsApplied(model));
    }

    private static ApplyAndTrain Fold(TrainingPlan plan, long step) =>
        new(new ApplyTargets(step, DistillTargets.None, step), new TrainStep(step + 1, 0, (int)(step % plan.StepsPerEpoch), plan.TrainBatch(0, (int)(step % plan.StepsPerEpoch)), step + 1));

    [Fact]
    public void Should_apply_a_folded_step_before_the_forward_of_the_next_and_answer_both()
    {
        var (model, coordinator, plan) = Student();
        model.Tell(new TrainStep(1, 0, 0, plan.TrainBatch(0, 0), Attempt: 1), coordinator.Ref);
        coordinator.ExpectMsg<StepLogits>(Wait);

        model.Tell(Fold(plan, 1), coordinator.Ref);
        var done = coordinator.ExpectMsg<StepDone>(Wait);
        Assert.Equal((1L, 1L, true), (done.GlobalStep, done.Attempt, done.Applied));
        var logits = coordinator.ExpectMsg<StepLogits>(Wait);
        Assert.Equal((2L, 2L), (logits.GlobalStep, logits.Attempt));
        Assert.Equal(1, StepsApplied(model)); // applied before the forward of step 2, as the single-process trainer does
    }

    private float[] Parameters(IActorRef model)
    {
        var probe = CreateTestProbe();
        model.Tell(GetParameters.Instance, probe.Ref);
        return probe.ExpectMsg<ModelParameters>(Wait).Values;
    }

    /// <summary>Step 1 trained and counted (its fold with step 2 applied it): the network after step 1, and the fold of step 2 applied too.</summary>
    private float[] FoldTwoSteps(IActorRef model, Akka.TestKit.TestProbe coordinator, TrainingPlan plan)
    {
        model.Tell(new TrainStep(1, 0, 0, plan.TrainBatch(0, 0), Attempt: 1), coordinator.Ref);
        coordinator.ExpectMsg<StepLogits>(Wait);
        model.Tell(Fold(plan, 1), coordinator.Ref);
        coordinator.ExpectMsg<StepDone>(Wait);
        coordinator.ExpectMsg<StepLogits>(Wait);
        var afterStep1 = Parameters(model);
        model.Tell(Fold(plan, 2), coordinator.Ref); // shows step 1 counted; applies step 2 before the forward of step 3
        coordinator.ExpectMsg<StepDone>(Wait);
        coordinator.ExpectMsg<StepLogits>(Wait);
        Assert.Equal(2, StepsApplied(model));
        return afterStep1;
    }

    /// <summary>
    /// The fault CI found (CoordinatorPauseSpecs): a student frozen while its fold waited in the mailbox applied it on waking,
    /// after the coordinator had dropped it from that step. The update is taken back, so it is taken back in with its own
    /// network, one optimizer step per row.
    /// </summary>
    [Fact]
    public void Should_take_back_a_folded_step_the_coordinator_did_not_count_and_keep_the_network_when_taken_back()
    {
        var (model, coordinator, plan) = Student();
        var afterStep1 = FoldTwoSteps(model, coordinator, plan);

        model.Tell(new DroppedFromCohort("missed the step timeout", CountedThrough: 1), coordinator.Ref); // its step-done of step 2 came too late
        coordinator.ExpectMsg<RegisterModel>(Wait);
        Assert.Equal(1, StepsApplied(model));
        Assert.Equal(afterStep1, Parameters(model));

        coordinator.Reply(new RegistrationAccepted(1, TestCohorts.Setup("tiny", ModelRole.Student, TestCohorts.Load(TestCohorts.SyntheticData(train: 64, test: 16)), seed: 7)));
        coordinator.ExpectMsg<ModelReady>(Wait);
        Assert.Equal(1, StepsApplied(model)); // the same network, not a fresh one
        Assert.Equal(afterStep1, Parameters(model));
    }

    [Fact]
    public void Should_keep_a_folded_step_the_coordinator_counted_when_dropped_later()
    {
        var (model, coordinator, plan) = Student();
        FoldTwoSteps(model, coordinator, plan);

        model.Tell(new DroppedFromCohort("missed the step timeout", CountedThrough: 2), coordinator.Ref); // step 3's logits came too late
        coordinator.ExpectMsg<RegisterModel>(Wait);
        Assert.Equal(2, StepsApplied(model));
    }

    [Fact]
    public void Should_take_back_a_folded_step_that_is_run_again()
    {
        var (model, coordinator, plan) = Student();
        var afterStep1 = FoldTwoSteps(model, coordinator, plan);

        // The coordinator gave step 2 up (another model failed it) and runs it again: the fold's update of step 2 is taken back.
        model.Tell(new TrainStep(2, 0, 1, plan.TrainBatch(0, 1), Attempt: 9), coordinator.Ref);
        coordinator.ExpectMsg<StepLogits>(Wait);
        Assert.Equal(1, StepsApplied(model));
        Assert.Equal(afterStep1, Parameters(model));
    }

    [Fact]
    public void Should_keep_a_folded_step_when_the_run_ends_after_counting_it()
    {
        var (model, coordinator, plan) = Student();
        FoldTwoSteps(model, coordinator, plan);

        model.Tell(new TrainingFinished(true, null, CountedThrough: 2), coordinator.Ref);
        AwaitAssert(() => Assert.Equal(2, StepsApplied(model)), Wait);
    }

    [Fact]
    public void Should_fail_both_requests_of_a_fold_whose_backward_has_no_forward()
    {
        var (model, coordinator, plan) = Student();

        model.Tell(Fold(plan, 1), coordinator.Ref); // no forward of step 1 came first: the backward fails
        Assert.Equal(1, coordinator.ExpectMsg<StepFailed>(Wait).Attempt);
        Assert.Equal(2, coordinator.ExpectMsg<StepFailed>(Wait).Attempt);
        Assert.Equal(0, StepsApplied(model)); // and it keeps its network
    }
}
