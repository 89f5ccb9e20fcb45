using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// Issue 16, item 7: a compute stall of tens of seconds (a long GC, a busy machine; here SIGSTOP for 20 s) is not a
/// failure. The failure detector tolerates it, so the stalled student is never marked unreachable, never leaves the
/// cohort and is never downed: the run finishes with every student in every step.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class StalledStudentSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(4);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-stall-");

    public void Dispose() => cluster.Dispose();

    /// <summary>Every node's output without the per-step progress lines, for a failure message.</summary>
    private string Logs() => string.Join("\n", cluster.Nodes.Select(n => $"==== {n.Name}\n" + string.Join("\n",
        n.Output.Split('\n').Where(l => !l.Contains("] Step ", StringComparison.Ordinal) && !l.Contains("memory:", StringComparison.Ordinal)))));

    private static readonly int Pause = new NodeOptions().HeartbeatPauseSeconds;

    [Fact]
    public void Should_keep_a_student_stalled_for_20_seconds_in_the_cluster_and_the_cohort()
    {
        const int steps = 120;
        // The step timeout is longer than the stall: only the failure detector could drop the student.
        // The product's default pause, stated: the processes of other tests get a short one (RunningProcess.TestHeartbeatPauseSeconds).
        var coordinator = cluster.Start("coordinator", cluster.Coordinator().CnnRun(cluster.Dir, stepTimeout: 90).Epochs(1).MaxSteps(steps).Set("--heartbeat-pause", Pause));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[]
        {
            cluster.Start("teacher", cluster.CnnPeer("teacher").Set("--heartbeat-pause", Pause)),
            cluster.Start("student-a", cluster.CnnPeer("student").Set("--heartbeat-pause", Pause)),
            cluster.Start("student-b", cluster.CnnPeer("student").Set("--heartbeat-pause", Pause)),
        };
        coordinator.WaitFor("Checkpoint at step 10", Long);

        var stalled = peers[2];
        stalled.Pause();
        try
        {
            Thread.Sleep(TimeSpan.FromSeconds(20));
        }
        finally
        {
            stalled.Continue();
        }

        Assert.True(coordinator.WaitForExit(Long) == (int)ExitCode.Completed, Logs());
        foreach (var p in peers) Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, $"{p.Name} failed\n{Logs()}");
        foreach (var node in cluster.Nodes)
            foreach (var text in new[] { "member unreachable", "is unreachable", "left the cohort", "Rejoining", "(was Down)" })
                Assert.False(node.Output.Contains(text, StringComparison.Ordinal), $"{node.Name} printed '{text}'\n{Logs()}");
        var perStep = new RunFiles(Path.Combine(cluster.Dir, "run")).AssertEveryStepOnce(steps);
        var id = System.Text.RegularExpressions.Regex.Match(stalled.Output, @"Accepted as (student-\d)").Groups[1].Value;
        var without = perStep.Where(kv => !kv.Value.Contains(id)).Select(kv => kv.Key).ToList();
        Assert.True(without.Count == 0, $"{id} is missing from steps {string.Join(" ", without.Take(20))}\n{Logs()}");
    }
}
