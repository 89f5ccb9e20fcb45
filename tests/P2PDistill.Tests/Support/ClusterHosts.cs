using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Hosting;

namespace P2PDistill.Tests.Support;

/// <summary>Clustered Akka.Hosting nodes in the test process, each its own actor system on a loopback port.</summary>
public static class ClusterHosts
{
    public static async Task<IHost> Start(NodeOptions node, string role, Action<AkkaConfigurationBuilder> actors)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddAkka(node.SystemName, (akka, _) =>
        {
            akka.ConfigureClusterNode(node, role);
            actors(akka);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>The coordinator's node of a new cluster named <paramref name="system"/> (its own seed), with the coordinator actor.</summary>
    public static Task<IHost> StartCoordinator(string system, P2PDistill.Coordinator.Actors.CoordinatorSettings settings, P2PDistill.Shared.Training.TrainingPlan plan,
        P2PDistill.Shared.Training.ITrainingObserver observer, TaskCompletionSource<P2PDistill.Shared.Training.CohortResult> completion, NodeOptions? node = null) =>
        Start(node ?? Node(system), P2PDistill.Shared.Actors.ModelActor.CoordinatorRole, akka => akka.WithActors((sys, _) =>
            sys.ActorOf(P2PDistill.Coordinator.Actors.CoordinatorActor.Props(plan, settings, observer, completion), P2PDistill.Shared.Actors.ModelActor.CoordinatorName)));

    public static ActorSystem System(this IHost host) => host.Services.GetRequiredService<ActorSystem>();

    public static string Address(this IHost host) => Akka.Cluster.Cluster.Get(host.System()).SelfAddress.ToString();

    public static NodeOptions Node(string system, params string[] seeds) => new()
    {
        SystemName = system, Hostname = "127.0.0.1", Port = 0, SeedNodes = seeds, ClusterSummarySeconds = 0,
        // A stopped node is noticed in seconds (the product's default is 30 s, for compute stalls: FailureDetectionNodeSpecs).
        HeartbeatPauseSeconds = 5,
    };
}
