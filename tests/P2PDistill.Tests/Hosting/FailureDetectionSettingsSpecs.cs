using Microsoft.Extensions.Hosting;
using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Hosting;

/// <summary>Issue 16, item 7: --heartbeat-pause is checked, and what a node is started with is what Akka runs.</summary>
[Trait("Category", "Unit")]
public sealed class FailureDetectionSettingsSpecs
{
    [Theory]
    [InlineData(2)]
    [InlineData(3601)]
    public void Should_refuse_a_heartbeat_pause_outside_3_to_3600_seconds_naming_the_flag(int seconds)
    {
        var errors = new NodeOptions { HeartbeatPauseSeconds = seconds }.Validate(isSeed: true);
        Assert.Contains($"heartbeat-pause must be 3..3600 seconds (got {seconds})", errors);
    }

    [Fact]
    public void Should_accept_the_default_heartbeat_pause_of_30_seconds()
    {
        Assert.Equal(30, new NodeOptions().HeartbeatPauseSeconds);
        Assert.Empty(new NodeOptions().Validate(isSeed: true));
    }
}

/// <summary>The settings a clustered node really runs with (an actor system with remoting on a loopback port).</summary>
[Trait("Category", "Cluster")]
public sealed class FailureDetectionNodeSpecs
{
    [Fact]
    public async Task Should_run_a_node_with_the_heartbeat_pause_and_the_coordinator_deciding_who_is_downed()
    {
        var node = ClusterHosts.Node("fd" + Guid.NewGuid().ToString("N")[..8]);
        node.HeartbeatPauseSeconds = 45;
        node.DownAfterSeconds = 20;
        using var host = await ClusterHosts.Start(node, P2PDistill.Shared.Actors.ModelActor.CoordinatorRole, _ => { });
        try
        {
            var config = host.System().Settings.Config;
            Assert.Equal(TimeSpan.FromSeconds(45), config.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause"));
            Assert.Equal(TimeSpan.FromSeconds(45), config.GetTimeSpan("akka.remote.watch-failure-detector.acceptable-heartbeat-pause"));
            Assert.True(config.GetTimeSpan("akka.remote.transport-failure-detector.acceptable-heartbeat-pause") >= TimeSpan.FromSeconds(90));
            Assert.Equal(TimeSpan.FromSeconds(20), config.GetTimeSpan(CoordinatorDowningProvider.DownAfterPath));
            var cluster = Akka.Cluster.Cluster.Get(host.System());
            Assert.Equal(typeof(CoordinatorDowningProvider), cluster.Settings.DowningProviderType);
            Assert.Equal(TimeSpan.FromSeconds(20), Assert.IsType<CoordinatorDowningProvider>(cluster.DowningProvider).DownAfter);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
