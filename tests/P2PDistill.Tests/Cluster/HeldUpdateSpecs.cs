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

    private (IActorRef Model, Akka.TestKit.TestProbe Coordinator, TrainingPlan Plan) Student()
    {
        var dataOptions = TestCohorts.SyntheticData(train: 64, test: 16);
        var data = TestCohorts.Load(dataOptions);
        var plan = new TrainingPlan(TestCohorts.Options(), dataOptions, data, Normalization.Identity(1), new OptimizerOptions());
        var coordinator = CreateTestProbe("coordinator");
        var model = Sys.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Student, "tiny", plan.Spec, coordinator.Ref)), "student");
        coordinator.ExpectMsg<RegisterModel>(Wait);
        coordinator.Reply(new RegistrationAccepted(1, TestCohorts.Setup("tiny", ModelRole.Student, data, seed: 7)));
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
}
