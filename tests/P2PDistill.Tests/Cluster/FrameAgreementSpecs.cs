using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// Every node sizes the weight chunks it sends from its own remoting frame. A peer started with the default 32 MiB frame
/// beside a coordinator at <c>--max-frame-mb 4</c> sent 8 MiB chunks the coordinator's transport dropped with the connection:
/// collecting timed out and the run went on without checkpoints or exports. The registration now carries the node's frame and
/// the coordinator refuses a model whose frame is not its own, naming both. Two actor systems with different frames.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class FrameAgreementSpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Should_refuse_a_model_whose_node_has_another_remoting_frame_naming_both_frames()
    {
        var plan = TestCohorts.SmallPlan(); // 1x28x28, 4 classes
        var completion = new TaskCompletionSource<CohortResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var system = "frames" + Guid.NewGuid().ToString("N")[..6];
        var settings = new CoordinatorSettings(2, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));
        var coordinatorNode = ClusterHosts.Node(system);
        coordinatorNode.MaxFrameMiB = 4;
        var coordinator = await ClusterHosts.StartCoordinator(system, settings, plan, new Recorder(), completion, coordinatorNode);

        var refused = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var peerNode = ClusterHosts.Node(system, coordinator.Address()); // the default frame, 32 MiB
        IHost? peer = null;
        try
        {
            peer = await ClusterHosts.Start(peerNode, "student", akka => akka.WithActors((sys, _) =>
                sys.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Student, "tiny", plan.Spec,
                    OnRefused: why => refused.TrySetResult(why), RegisterRetry: TimeSpan.FromSeconds(1))), "model")));
            var model = await peer.System().ActorSelection("/user/model").ResolveOne(Wait);

            // Either the coordinator refuses, or it accepts: then the model has a network and answers with its parameters.
            string? acceptedAs = null;
            for (var until = DateTime.UtcNow + Wait; !refused.Task.IsCompleted && acceptedAs is null;)
            {
                Assert.True(DateTime.UtcNow < until, $"the coordinator neither refused nor accepted the model within {Wait}");
                try
                {
                    acceptedAs = (await model.Ask<ModelParameters>(GetParameters.Instance, TimeSpan.FromMilliseconds(500))).ModelId;
                }
                catch (AskTimeoutException)
                {
                    // not accepted yet (a model without a network does not answer)
                }
            }

            Assert.True(refused.Task.IsCompleted, $"the coordinator (4 MiB frame) accepted a model whose node has a 32 MiB frame, as {acceptedAs}");
            var why = await refused.Task;
            Assert.Contains("33,554,432", why); // the model's frame
            Assert.Contains("4,194,304", why); // the coordinator's
            Assert.Contains("--max-frame-mb", why);
        }
        finally
        {
            if (peer is not null)
            {
                await peer.StopAsync(TimeSpan.FromSeconds(10));
                peer.Dispose();
            }
            await coordinator.StopAsync(TimeSpan.FromSeconds(10));
            coordinator.Dispose();
        }
    }
}
