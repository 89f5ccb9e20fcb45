using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Coordinator.Actors;
using P2PDistill.PeerNode.Hosting;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// A peer stopped with SIGTERM (`podman stop`, systemd, Kubernetes) leaves the cluster and exits. Akka's CLR exit hook
/// used to start that leave before the host had heard of the signal: the node's own leave removed every member from its
/// view, the coordinator's too, the model took that for a lost coordinator and the node rejoined as a fresh member and
/// trained on (found by the Container test, where it happened in 3 runs of 4). Now the host alone drives the shutdown,
/// and a node that is shutting down for any reason but being downed neither takes its own leave for a lost coordinator
/// nor asks to rejoin. The peer here is the real
/// peer host (<see cref="PeerHosting.AddPeer"/>), in process, beside a coordinator.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class PeerShutdownSpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Should_not_rejoin_when_the_peer_shuts_itself_down_while_it_follows_a_coordinator()
    {
        var plan = TestCohorts.SmallPlan();
        var completion = new TaskCompletionSource<CohortResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var system = "leave" + Guid.NewGuid().ToString("N")[..6];
        // Waits for a teacher and 2 students: the accepted student follows the coordinator and nothing trains.
        var coordinator = await ClusterHosts.StartCoordinator(system, new CoordinatorSettings(2, Wait, Wait), plan, new Recorder(), completion);
        var session = new PeerSession();
        var log = new List<string>();
        var peer = PeerHost(ClusterHosts.Node(system, coordinator.Address()), session, log);
        try
        {
            await peer.StartAsync();
            var peerSystem = peer.Services.GetRequiredService<ActorSystem>();
            Assert.False(peerSystem.Settings.Config.GetBoolean("akka.coordinated-shutdown.run-by-clr-shutdown-hook"),
                "the peer's actor system shuts itself down on process exit, racing the host's graceful stop");
            var model = await peerSystem.ActorSelection("/user/model").ResolveOne(Wait);
            await Accepted(model);

            // What a SIGTERM starts: the node's coordinated shutdown (the same as the hook ran), which leaves the cluster.
            await CoordinatedShutdown.Get(peerSystem).Run(CoordinatedShutdown.ClrExitReason.Instance);
            await peerSystem.WhenTerminated.WaitAsync(Wait);

            Assert.True(session.Rejoin is null, $"the peer asked to rejoin while shutting down: {session.Rejoin}");
            lock (log)
            {
                Assert.Contains(log, l => l.Contains("Accepted as student-1", StringComparison.Ordinal));
                Assert.DoesNotContain(log, l => l.Contains("Lost the coordinator", StringComparison.Ordinal) || l.Contains("Rejoining", StringComparison.Ordinal));
            }
        }
        finally
        {
            await peer.StopAsync(TimeSpan.FromSeconds(10));
            peer.Dispose();
            await coordinator.StopAsync(TimeSpan.FromSeconds(10));
            coordinator.Dispose();
        }
    }

    /// <summary>A model that has a network answers with its parameters: it was accepted.</summary>
    private static async Task Accepted(IActorRef model)
    {
        for (var until = DateTime.UtcNow + Wait; ;)
        {
            Assert.True(DateTime.UtcNow < until, $"the coordinator did not accept the peer within {Wait}");
            try
            {
                await model.Ask<ModelParameters>(GetParameters.Instance, TimeSpan.FromMilliseconds(500));
                return;
            }
            catch (AskTimeoutException)
            {
                // not accepted yet
            }
        }
    }

    /// <summary>The peer process's host, as <see cref="PeerProgram"/> builds it, for a tiny student of the small plan's shape.</summary>
    private static IHost PeerHost(NodeOptions node, PeerSession session, List<string> log)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddProvider(new ListLogger(log));
        // The peer sets libtorch's thread count, which is the whole process's: keep it as it is, or the numeric
        // equivalence specs running beside this one compute with another summation order (it broke one at 5e-5).
        var options = new PeerOptions { Role = ModelRole.Student, Model = "tiny", Classes = 4, InputShape = new(1, 28, 28), Threads = TorchSharp.torch.get_num_threads() };
        builder.Services.AddAkka(node.SystemName, (akka, services) =>
            akka.AddPeer(node, options, services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<ILoggerFactory>(), session));
        return builder.Build();
    }
}
