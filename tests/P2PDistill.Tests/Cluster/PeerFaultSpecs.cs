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
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-fault-").FullName;
    private readonly List<RunningNode> nodes = [];

    public void Dispose()
    {
        foreach (var n in nodes) n.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    private RunningNode Start(string name, string assembly, params string[] args)
    {
        var node = RunningNode.Start(name, assembly, args, dir);
        nodes.Add(node);
        return node;
    }

    [Fact]
    public void Should_refuse_to_start_a_coordinator_on_a_port_in_use()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var r = NodeProcess.Run("p2pdistill-coordinator.dll", ["--dataset", "synthetic", "--port", port.ToString(), "--output", dir], dir, Long);
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
        var r = NodeProcess.Run("p2pdistill-peer.dll", ["--port", port.ToString(), "--seed-nodes", "akka.tcp://p2pdistill@127.0.0.1:4053"], dir, Long);
        Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
        Assert.Contains($"port {port} on 127.0.0.1 is not available", r.Stderr);
    }

    [Fact]
    public void Should_give_up_with_a_clear_message_when_the_seed_nodes_cannot_be_reached()
    {
        int nobody = ClusterHosts.FreePort();
        var peer = Start("student", "p2pdistill-peer.dll", "--seed-nodes", $"akka.tcp://p2pdistill@127.0.0.1:{nobody}", "--join-timeout", "6");
        Assert.Equal((int)ExitCode.Unreachable, peer.WaitForExit(Long));
        Assert.Contains("no coordinator answered within 6 s", peer.Output);
        Assert.Contains("--seed-nodes", peer.Output);
    }

    [Fact]
    public void Should_exit_when_the_coordinator_is_lost_for_longer_than_the_rejoin_timeout()
    {
        int port = ClusterHosts.FreePort();
        var coordinator = Start("coordinator", "p2pdistill-coordinator.dll", "--port", port.ToString(), "--dataset", "synthetic",
            "--teacher-model", "tiny", "--student-model", "tiny", "--min-students", "2", "--output", dir);
        coordinator.WaitFor("Waiting for a teacher", Long);
        var teacher = Start("teacher", "p2pdistill-peer.dll", "--role", "teacher", "--model", "tiny", "--classes", "4",
            "--seed-nodes", $"akka.tcp://p2pdistill@127.0.0.1:{port}", "--rejoin-timeout", "8");
        teacher.WaitFor("Accepted as teacher", Long);
        coordinator.Kill();
        Assert.Equal((int)ExitCode.Unreachable, teacher.WaitForExit(Long));
        Assert.Contains("Lost the coordinator", teacher.Output);
        Assert.Contains("did not come back within 8 s", teacher.Output);
    }

    [Fact]
    public void Should_stop_gracefully_on_sigterm_with_a_final_checkpoint()
    {
        var coordinator = Start("coordinator", "p2pdistill-coordinator.dll", "--embedded", "--dataset", "synthetic", "--Data:SyntheticTrain=20000",
            "--teacher-model", "tiny", "--student-model", "tiny", "--epochs", "1", "--batch-size", "32", "--output", dir, "--run-name", "stop");
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
        var rows = File.ReadAllLines(Path.Combine(dir, "stop", "metrics", "steps.csv")).Length - 1;
        Assert.Equal(manifest.Step * 3, rows);
    }
}
