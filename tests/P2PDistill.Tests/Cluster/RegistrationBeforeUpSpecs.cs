using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Microsoft.Extensions.Hosting;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// A model registers as soon as it sees the coordinator up, which can be before its own node is up in the coordinator's
/// view. Accepted then, it was watched by Akka's plain remote death watch, which quarantines a node for good after any
/// silence longer than the heartbeat pause: CI saw a coordinator frozen (SIGSTOP) for 10 s right after a teacher
/// joined lose that teacher for the rest of the run, and the whole cluster downed itself a minute later
/// (CoordinatorPauseSpecs). The coordinator now answers a registration only once the node is up in its own view; the
/// model's retry is accepted then.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class RegistrationBeforeUpSpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Should_answer_a_registration_only_once_the_models_node_is_up_in_the_coordinators_view()
    {
        var plan = TestCohorts.SmallPlan(); // 1x28x28, 4 classes
        var data = plan.Splits;
        var completion = new TaskCompletionSource<CohortResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var system = "early" + Guid.NewGuid().ToString("N")[..6];
        var settings = new CoordinatorSettings(2, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));
        var coordinator = await ClusterHosts.StartCoordinator(system, settings, plan, new Recorder(), completion);

        // The model's node: remoting and the cluster provider, but it has not joined (no seed nodes), so it is no member.
        var config = ConfigurationFactory.ParseString(string.Join("\n", NodeHocon.WireFormat, "akka.loglevel = WARNING", "akka.actor.provider = cluster",
            "akka.remote.dot-netty.tcp.hostname = 127.0.0.1", "akka.remote.dot-netty.tcp.port = 0"));
        var peer = ActorSystem.Create(system, config);
        try
        {
            var model = new TestProbe(peer, new XunitAssertions(), "model");
            var coordinatorAddress = Akka.Cluster.Cluster.Get(coordinator.System()).SelfAddress;
            var selection = peer.ActorSelection(new RootActorPath(coordinatorAddress) / "user" / ModelActor.CoordinatorName);
            var register = new RegisterModel(Akka.Cluster.Cluster.Get(peer).SelfAddress.ToString(), ModelRole.Teacher, "tiny",
                data.Shape.Channels, data.Shape.Height, data.Shape.Width, data.NumClasses, WireLimits.Of(coordinator.System()).FrameBytes);

            // The coordinator does receive it (it answers an Identify over the same association) but does not answer it.
            selection.Tell(register, model.Ref);
            selection.Tell(new Identify("reached"), model.Ref);
            Assert.Equal("reached", model.ExpectMsg<ActorIdentity>(Wait).MessageId);
            model.ExpectNoMsg(TimeSpan.FromSeconds(2));

            // Once the node has joined and is up in the coordinator's view, the retried registration is accepted.
            Akka.Cluster.Cluster.Get(peer).Join(coordinatorAddress);
            var peerAddress = Akka.Cluster.Cluster.Get(peer).SelfAddress;
            var coordinatorCluster = Akka.Cluster.Cluster.Get(coordinator.System());
            for (var until = DateTime.UtcNow + Wait; !coordinatorCluster.State.Members.Any(m => m.Address.Equals(peerAddress) && m.Status == Akka.Cluster.MemberStatus.Up);)
            {
                Assert.True(DateTime.UtcNow < until, $"the model's node did not come up in the coordinator's view within {Wait}");
                await Task.Delay(50);
            }
            selection.Tell(register, model.Ref);
            var accepted = model.ExpectMsg<RegistrationAccepted>(Wait);
            Assert.Equal("teacher", accepted.Setup.Id);
        }
        finally
        {
            await peer.Terminate();
            await coordinator.StopAsync(TimeSpan.FromSeconds(10));
            coordinator.Dispose();
        }
    }
}
