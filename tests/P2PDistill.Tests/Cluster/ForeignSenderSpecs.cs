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
/// Issue 10, item 4: a model actor obeys only the coordinator that accepted it. Control and step messages from any other
/// sender (another coordinator, a stray node) are refused with a warning naming the sender, and the model trains on.
/// One actor system; a test probe plays the coordinator, another the stranger.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class ForeignSenderSpecs() : TestKit(NodeHocon.InProcess("INFO"))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public void Should_refuse_control_and_step_messages_from_a_sender_other_than_its_coordinator_and_keep_training()
    {
        var plan = TestCohorts.SmallPlan(); // 1x28x28, 4 classes
        var data = plan.Splits;
        var coordinator = CreateTestProbe("coordinator");
        var stranger = CreateTestProbe("stranger");
        int finished = 0;
        var model = Sys.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Teacher, "tiny", plan.Spec, coordinator.Ref,
            OnFinished: _ => Interlocked.Increment(ref finished))), "teacher");

        coordinator.ExpectMsg<RegisterModel>(Wait);
        coordinator.Reply(new RegistrationAccepted(0, TestCohorts.Setup("tiny", ModelRole.Teacher, data, seed: 7)));
        coordinator.ExpectMsg<ModelReady>(Wait);

        // The stranger tries to end the run, drop the model, take its weights and drive a step; each is refused by name.
        var batch = plan.TrainBatch(0, 0);
        EventFilter.Warning(contains: "Refused TrainingFinished from " + stranger.Ref.Path).ExpectOne(Wait,
            () => model.Tell(new TrainingFinished(true, null), stranger.Ref));
        EventFilter.Warning(contains: "Refused DroppedFromCohort from " + stranger.Ref.Path).ExpectOne(Wait,
            () => model.Tell(new DroppedFromCohort("a stranger says so"), stranger.Ref));
        EventFilter.Warning(contains: "Refused ExportWeights from " + stranger.Ref.Path).ExpectOne(Wait,
            () => model.Tell(new ExportWeights(1), stranger.Ref));
        EventFilter.Warning(contains: "Refused TrainStep from " + stranger.Ref.Path).ExpectOne(Wait,
            () => model.Tell(new TrainStep(1, 0, 0, batch), stranger.Ref));

        // Its coordinator still drives it: a whole step, answered to the coordinator; the model was neither finished nor dropped.
        model.Tell(new TrainStep(1, 0, 0, batch), coordinator.Ref);
        Assert.Equal(1, coordinator.ExpectMsg<StepLogits>(Wait).GlobalStep);
        model.Tell(new ApplyTargets(1, DistillTargets.None), coordinator.Ref);
        var done = coordinator.ExpectMsg<StepDone>(Wait);
        Assert.True(done.Applied);
        model.Tell(GetParameters.Instance, stranger.Ref); // diagnostics stay open to anyone
        Assert.Equal(0, stranger.ExpectMsg<ModelParameters>(Wait).StepsApplied); // held until its coordinator shows it counted the step
        stranger.ExpectNoMsg(TimeSpan.Zero); // nothing else reached the stranger: no logits, no weights
        coordinator.ExpectNoMsg(TimeSpan.Zero); // and the model did not register again (it was not dropped)
        Assert.Equal(0, Volatile.Read(ref finished));

        // Its own coordinator ending the run is obeyed.
        model.Tell(new TrainingFinished(true, null, CountedThrough: 1), coordinator.Ref);
        AwaitCondition(() => Volatile.Read(ref finished) == 1, Wait);
        model.Tell(GetParameters.Instance, stranger.Ref);
        Assert.Equal(1, stranger.ExpectMsg<ModelParameters>(Wait).StepsApplied);
    }
}
