using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// Issue 10, item 4 with real processes: a second coordinator started into a cluster that already has one does not
/// train (it says whose cluster it is and exits 2), and its coming and going changes nothing for the peers, which follow
/// only the coordinator that accepted them.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class SecondCoordinatorSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(4);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-second-");

    public void Dispose() => cluster.Dispose();

    private NodeArgs Training(int port, string name, int steps) =>
        NodeArgs.Coordinator().Port(port).CnnRun(cluster.Dir, stepTimeout: 60, name).Epochs(1).MaxSteps(steps);

    private RunningProcess Peer(string name, string role) => cluster.Start(name, cluster.CnnPeer(role).RejoinGrace(3));

    [Fact]
    public void Should_not_start_a_second_coordinator_in_a_cluster_that_has_one_and_leave_the_peers_alone()
    {
        const int steps = 200;
        var first = cluster.Start("coordinator", Training(cluster.Port, "run", steps));
        first.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { Peer("teacher", "teacher"), Peer("student-a", "student"), Peer("student-b", "student") };
        first.WaitFor("Checkpoint at step 10", Long);

        var second = cluster.Start("second", Training(Loopback.FreePort(), "second", steps).SeedNodes(cluster.Seed));
        int exit = second.WaitForExit(Long);
        Assert.True(exit == 2, $"exit {exit}:\n{second.Output}");
        Assert.Contains("another coordinator is already in this cluster: " + cluster.Seed, second.Output);
        Assert.DoesNotContain("Waiting for a teacher", second.Output);

        Assert.True(first.WaitForExit(Long) == (int)ExitCode.Completed, first.Output);
        foreach (var p in peers)
        {
            Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, $"{p.Name}:\n{p.Output}");
            // Whether a peer sees the second coordinator Up at all depends on gossip timing (it may leave before the
            // peer's view converges), so what is asserted is that nothing changed for the peer.
            foreach (var text in new[] { "Rejoining", "Lost the coordinator", "Restored " })
                Assert.False(p.Output.Contains(text, StringComparison.Ordinal), $"{p.Name} printed '{text}':\n{p.Output}");
        }
        var perStep = new RunFiles(Path.Combine(cluster.Dir, "run")).AssertEveryStepOnce(steps);
        Assert.All(perStep.Values, ids => Assert.Equal(["student-1", "student-2", "teacher"], ids.Order()));
    }
}
