using P2PDistill.Shared.Hosting;
using System.Net;
using System.Net.Sockets;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>Bad network situations at start-up and mid-run give a clear message and a non-zero exit.</summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class PeerFaultSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-fault-");

    public void Dispose() => cluster.Dispose();

    private string dir => cluster.Dir;

    [Fact]
    public void Should_refuse_to_start_a_coordinator_on_a_port_in_use()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var r = RunningProcess.Run(NodeArgs.Coordinator().Synthetic().Port(port).Output(dir), dir, Long);
        Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
        Assert.Contains($"port {port} on 127.0.0.1 is not available", r.Stderr);
        Assert.Empty(Directory.GetDirectories(dir));
    }

    [Fact]
    public void Should_refuse_to_start_a_peer_on_a_port_in_use()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var r = RunningProcess.Run(NodeArgs.Peer().Port(port).SeedNodes(Loopback.Seed(4053)), dir, Long);
        Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
        Assert.Contains($"port {port} on 127.0.0.1 is not available", r.Stderr);
    }

    [Fact]
    public void Should_give_up_with_a_clear_message_when_the_seed_nodes_cannot_be_reached()
    {
        var peer = cluster.Start("student", NodeArgs.Peer().SeedNodes(Loopback.Seed(Loopback.FreePort())).JoinTimeout(6));
        Assert.Equal((int)ExitCode.Unreachable, peer.WaitForExit(Long));
        Assert.Contains("no coordinator answered within 6 s", peer.Output);
        Assert.Contains("--seed-nodes", peer.Output);
    }

    [Fact]
    public void Should_exit_when_the_coordinator_is_lost_for_longer_than_the_rejoin_timeout()
    {
        var coordinator = cluster.Start("coordinator", cluster.Coordinator().Synthetic().Models("tiny", "tiny").MinStudents(2).Output(dir));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var teacher = cluster.Start("teacher", cluster.Peer("teacher").Model("tiny").Classes(4).RejoinTimeout(8));
        teacher.WaitFor("Accepted as teacher", Long);
        coordinator.Kill();
        Assert.Equal((int)ExitCode.Unreachable, teacher.WaitForExit(Long));
        Assert.Contains("Lost the coordinator", teacher.Output);
        Assert.Contains("did not come back within 8 s", teacher.Output);
    }

    [Fact]
    public void Should_stop_gracefully_on_sigterm_with_a_final_checkpoint()
    {
        var coordinator = cluster.Start("coordinator", NodeArgs.Coordinator().Embedded().Synthetic(train: 20000).Models("tiny", "tiny")
            .Epochs(1).BatchSize(32).Output(dir, "stop"));
        coordinator.WaitFor("training starts", Long);
        Thread.Sleep(1500);
        coordinator.Terminate();
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        Assert.Contains("Stop requested", coordinator.Output);
        var store = new P2PDistill.Shared.Training.CheckpointStore(Path.Combine(dir, "stop", "checkpoints"), 3);
        var last = store.LatestGood();
        Assert.NotNull(last);
        var manifest = P2PDistill.Shared.Training.CheckpointStore.ReadManifest(last);
        Assert.InRange(manifest.Step, 1, 624);
        Assert.Equal(3, manifest.Models.Count);
        Assert.Contains("stopped on request", File.ReadAllText(Path.Combine(dir, "stop", "summary.md")));
        Assert.Equal(manifest.Step * 3, new RunFiles(Path.Combine(dir, "stop")).Steps().Count);
    }
}
