using P2PDistill.Shared.Hosting;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// The coordinator refuses a model whose class count, input shape or architecture does not fit the dataset, with a reason
/// that names what is wrong and the flag that fixes it (the peer node prints it and exits 3). In process: one actor system,
/// the coordinator actor and a registration per case.
/// </summary>
[Trait("Category", "Fault")]
public sealed class RegistrationRefusalSpecs : IAsyncLifetime
{
    private ActorSystem system = null!;
    private IActorRef coordinator = null!;

    public Task InitializeAsync()
    {
        var plan = TestCohorts.SmallPlan(); // 1x28x28, 4 classes
        var config = ConfigurationFactory.ParseString(NodeHocon.InProcess("ERROR"));
        system = ActorSystem.Create("refusals", ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config)));
        coordinator = system.ActorOf(CoordinatorActor.Props(plan, new CoordinatorSettings(2, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)),
            new Recorder(), new TaskCompletionSource<CohortResult>()), "coordinator");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await system.Terminate();

    private async Task<string> Refusal(ModelRole role, string model, int channels, int height, int width, int classes)
    {
        var answer = await coordinator.Ask<object>(new RegisterModel("akka.tcp://p2pdistill@10.0.0.9:4100", role, model, channels, height, width, classes, WireLimits.Of(system).FrameBytes), TimeSpan.FromSeconds(20));
        var refused = Assert.IsType<RegistrationRefused>(answer);
        return refused.Reason;
    }

    [Fact]
    public async Task Should_refuse_a_model_with_another_class_count_naming_the_flag()
    {
        var why = await Refusal(ModelRole.Student, "tiny", 1, 28, 28, classes: 10);

        Assert.Contains("10 classes but the dataset 'synthetic' has 4", why);
        Assert.Contains("--classes 4", why);
    }

    [Fact]
    public async Task Should_refuse_a_model_with_another_input_shape_naming_the_flag()
    {
        var why = await Refusal(ModelRole.Teacher, "tiny", 3, 32, 32, classes: 4);

        Assert.Contains("input shape is 3x32x32 but the dataset's is 1x28x28", why);
        Assert.Contains("--input-shape 1x28x28", why);
    }

    [Fact]
    public async Task Should_refuse_an_unknown_architecture_listing_the_known_ones()
    {
        var why = await Refusal(ModelRole.Student, "gpt-5", 1, 28, 28, classes: 4);

        Assert.Contains("Unknown model 'gpt-5'", why);
        Assert.Contains("cnn-student", why);
        Assert.Contains("tiny", why);
    }

    [Fact]
    public async Task Should_accept_a_model_that_fits()
    {
        var answer = await coordinator.Ask<object>(new RegisterModel("akka.tcp://p2pdistill@10.0.0.9:4100", ModelRole.Student, "tiny", 1, 28, 28, 4, WireLimits.Of(system).FrameBytes), TimeSpan.FromSeconds(20));

        Assert.IsType<RegistrationAccepted>(answer);
    }
}
