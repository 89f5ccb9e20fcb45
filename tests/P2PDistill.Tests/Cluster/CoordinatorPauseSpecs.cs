using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// Issue 10, item 5: a coordinator that freezes (a long GC pause, SIGSTOP, a suspended VM) for longer than the peers'
/// --rejoin-grace is not a restarted one. Its peers keep their networks and their cluster membership and carry on with
/// it when it comes back: no fresh member, no restore from the checkpoint, every step trained exactly once.
/// </summary>
[Trait("Category", "Fault")]
public sealed class CoordinatorPauseSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(4);
    private readonly ProcessCluster cluster = new("p2pdistill-pause-");

    public void Dispose() => cluster.Dispose();

    private string Run => Path.Combine(cluster.Dir, "run");

    private RunningNode Coordinator(params string[] extra) => cluster.Start("coordinator", "p2pdistill-coordinator.dll",
        ["--port", cluster.Port.ToString(), "--dataset", "synthetic", "--Data:SyntheticTrain=16384", "--Data:SyntheticTest=128",
         "--teacher-model", "cnn-teacher", "--student-model", "cnn-student", "--batch-size", "32", "--output", cluster.Dir, "--run-name", "run",
         "--checkpoint-every", "5", "--step-timeout", "60", "--Node:ClusterSummarySeconds=5", .. extra]);

    private RunningNode Peer(string name, string role, params string[] extra) => cluster.Start(name, "p2pdistill-peer.dll",
        ["--role", role, "--model", role == "teacher" ? "cnn-teacher" : "cnn-student", "--classes", "4", "--seed-nodes", cluster.Seed, "--threads", "1",
         "--Node:ClusterSummarySeconds=5", .. extra]);

    /// <summary>Every node's output without the per-step progress lines, for a failure message.</summary>
    private string Logs(IEnumerable<RunningNode> peers) => string.Join("\n", cluster.Nodes.Select(n => $"==== {n.Name}\n" + string.Join("\n",
        n.Output.Split('\n').Where(l => !l.Contains("] Step ", StringComparison.Ordinal) && !l.Contains("memory:", StringComparison.Ordinal)))));

    [Fact]
    public void Should_carry_on_with_the_same_networks_when_the_coordinator_was_only_frozen_for_longer_than_the_rejoin_grace()
    {
        const int steps = 300;
        var coordinator = Coordinator("--epochs", "1", "--max-steps", steps.ToString());
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[]
        {
            Peer("teacher", "teacher", "--rejoin-grace", "3"), Peer("student-a", "student", "--rejoin-grace", "3"),
            Peer("student-b", "student", "--rejoin-grace", "3"),
        };
        coordinator.WaitFor("Checkpoint at step 10", Long);

        coordinator.Pause();
        var frozen = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            // Every peer notices (the failure detector marks the coordinator unreachable), then the freeze outlasts the
            // 3 s grace by far.
            foreach (var p in peers) p.WaitFor("cluster: member unreachable", Long);
            var left = TimeSpan.FromSeconds(8) - frozen.Elapsed;
            if (left > TimeSpan.Zero) Thread.Sleep(left);
            Thread.Sleep(TimeSpan.FromSeconds(3)); // at least 3 s (one grace) after the last peer saw it unreachable
        }
        finally
        {
            coordinator.Continue();
        }

        Assert.True(coordinator.WaitForExit(Long) == 0, coordinator.Output);
        foreach (var p in peers)
        {
            Assert.True(p.WaitForExit(Long) == 0, $"{p.Name}:\n{p.Output}");
            foreach (var text in new[] { "Rejoining", "fresh member", "Restored ", "from the checkpoint" })
                Assert.False(p.Output.Contains(text, StringComparison.Ordinal),
                    $"{p.Name} printed '{text}'\n{Logs(peers)}");
        }

        // Every step exactly once per model, and all three models in every step: nothing rewound, nothing skipped.
        var rows = File.ReadAllLines(Path.Combine(Run, "metrics", "steps.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        var perStep = rows.GroupBy(r => long.Parse(r[2])).ToDictionary(g => g.Key, g => g.Select(r => r[3]).ToList());
        var absent = Enumerable.Range(1, steps).Where(i => !perStep.ContainsKey(i)).ToList();
        Assert.True(absent.Count == 0 && perStep.Count == steps, $"steps without a row: {string.Join(" ", absent)}\n{Logs(peers)}");
        var duplicated = perStep.Where(kv => kv.Value.Count != kv.Value.Distinct().Count()).Select(kv => $"{kv.Key}: {string.Join(" ", kv.Value)}").ToList();
        Assert.True(duplicated.Count == 0, $"steps with a model twice: {string.Join("; ", duplicated.Take(20))}\n{Logs(peers)}");
        var missing = perStep.Where(kv => kv.Value.Count != 3).Select(kv => $"{kv.Key}: {string.Join(" ", kv.Value.Order())}").ToList();
        Assert.True(missing.Count == 0, $"steps without every model: {string.Join("; ", missing.Take(20))}\n{Logs(peers)}");
    }
}
