using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// Issue 10, item 5: a coordinator that freezes (a long GC pause, SIGSTOP, a suspended VM) for longer than the peers'
/// --rejoin-grace is not a restarted one. Its peers keep their networks and their cluster membership and carry on with
/// it when it comes back: no fresh member, no restore from the checkpoint, every step trained exactly once.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class CoordinatorPauseSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(4);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-pause-");

    public void Dispose() => cluster.Dispose();

    private string Run => Path.Combine(cluster.Dir, "run");

    private RunningProcess Coordinator(int steps) =>
        cluster.Start("coordinator", cluster.Coordinator().CnnRun(cluster.Dir, stepTimeout: 60).Epochs(1).MaxSteps(steps));

    private RunningProcess Peer(string name, string role, int? rejoinGrace = null)
    {
        var peer = cluster.CnnPeer(role);
        return cluster.Start(name, rejoinGrace is { } grace ? peer.RejoinGrace(grace) : peer);
    }

    /// <summary>Every node's output without the per-step progress lines, for a failure message.</summary>
    private string Logs() => string.Join("\n", cluster.Nodes.Select(n => $"==== {n.Name}\n" + string.Join("\n",
        n.Output.Split('\n').Where(l => !l.Contains("] Step ", StringComparison.Ordinal) && !l.Contains("memory:", StringComparison.Ordinal)))));

    /// <summary>The exit code of <paramref name="node"/>; if it does not exit in time, the failure carries every node's log, not its own only.</summary>
    private int ExitOf(RunningProcess node)
    {
        try
        {
            return node.WaitForExit(Long);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message.Split('\n')[0]}\n{Logs()}", e);
        }
    }

    /// <summary>
    /// A run of <paramref name="steps"/> steps whose coordinator is frozen (SIGSTOP) after step 10 for at least 8 s and at
    /// until every peer's 3 s grace has passed while it was unreachable, then thawed (SIGCONT).
    /// </summary>
    private (RunningProcess Coordinator, RunningProcess[] Peers) RunWithAFrozenCoordinator(int steps)
    {
        var coordinator = Coordinator(steps);
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[]
        {
            Peer("teacher", "teacher", rejoinGrace: 3), Peer("student-a", "student", rejoinGrace: 3),
            Peer("student-b", "student", rejoinGrace: 3),
        };
        coordinator.WaitFor("Checkpoint at step 10", Long);

        coordinator.Pause();
        var frozen = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            // Every peer notices (the failure detector marks the coordinator unreachable) and its 3 s grace passes (the
            // old peers rejoined as fresh members there; these say they keep waiting), and the freeze lasts 8 s at least.
            foreach (var p in peers) p.WaitFor("cluster: member unreachable", Long);
            foreach (var p in peers) p.WaitFor("a pause is not a restart", Long);
            var left = TimeSpan.FromSeconds(8) - frozen.Elapsed;
            if (left > TimeSpan.Zero) Thread.Sleep(left);
        }
        finally
        {
            coordinator.Continue();
        }

        Assert.True(ExitOf(coordinator) == (int)ExitCode.Completed, Logs());
        foreach (var p in peers) Assert.True(ExitOf(p) == (int)ExitCode.Completed, $"{p.Name} failed\n{Logs()}");
        return (coordinator, peers);
    }

    /// <summary>The peer side: a frozen coordinator that is still a member is waited for; no fresh member, no new actor system.</summary>
    [Fact]
    public void Should_keep_the_peers_in_the_cluster_when_the_coordinator_was_only_frozen_for_longer_than_the_rejoin_grace()
    {
        var (_, peers) = RunWithAFrozenCoordinator(200);
        foreach (var p in peers)
        {
            foreach (var text in new[] { "Rejoining", "fresh member" })
                Assert.False(p.Output.Contains(text, StringComparison.Ordinal), $"{p.Name} printed '{text}'\n{Logs()}");
        }
        var perStep = new RunFiles(Run).ModelsPerStep();
        var duplicated = perStep.Where(kv => kv.Value.Count != kv.Value.Distinct().Count()).Select(kv => $"{kv.Key}: {string.Join(" ", kv.Value)}").ToList();
        Assert.True(duplicated.Count == 0, $"steps with a model twice: {string.Join("; ", duplicated.Take(20))}\n{Logs()}");
        Assert.Equal(200, perStep.Keys.Max());
    }

    /// <summary>
    /// The whole run: nothing rewound, nothing skipped. The coordinator's side: after its own freeze (a late pulse) its
    /// failure detector marks every peer unreachable for a moment and its step deadline has passed; it gives the models a
    /// grace instead of dropping them, so every step keeps every model.
    /// </summary>
    [Fact]
    public void Should_train_every_step_exactly_once_with_the_same_networks_when_the_coordinator_was_only_frozen()
    {
        const int steps = 300;
        var (_, peers) = RunWithAFrozenCoordinator(steps);
        foreach (var p in peers)
            foreach (var text in new[] { "Rejoining", "fresh member", "Restored ", "from the checkpoint" })
                Assert.False(p.Output.Contains(text, StringComparison.Ordinal), $"{p.Name} printed '{text}'\n{Logs()}");

        // Every step exactly once per model, and all three models in every step.
        var perStep = new RunFiles(Run).ModelsPerStep();
        var absent = Enumerable.Range(1, steps).Where(i => !perStep.ContainsKey(i)).ToList();
        Assert.True(absent.Count == 0 && perStep.Count == steps, $"steps without a row: {string.Join(" ", absent)}\n{Logs()}");
        var duplicated = perStep.Where(kv => kv.Value.Count != kv.Value.Distinct().Count()).Select(kv => $"{kv.Key}: {string.Join(" ", kv.Value)}").ToList();
        Assert.True(duplicated.Count == 0, $"steps with a model twice: {string.Join("; ", duplicated.Take(20))}\n{Logs()}");
        var missing = perStep.Where(kv => kv.Value.Count != 3).Select(kv => $"{kv.Key}: {string.Join(" ", kv.Value.Order())}").ToList();
        Assert.True(missing.Count == 0, $"steps without every model: {string.Join("; ", missing.Take(20))}\n{Logs()}");
        AssertOptimizerStepsMatchRows(peers);
    }

    /// <summary>
    /// A student frozen for 30 s (SIGSTOP, then SIGCONT): the coordinator leaves it out while it is unreachable and takes
    /// it back in its own slot with its own network when it returns. No row is duplicated or missing, and every model's
    /// optimizer steps equal the steps it has rows for (an update of a step it was dropped from is never applied).
    /// </summary>
    [Fact]
    public void Should_take_a_student_frozen_for_30_seconds_back_with_its_network_and_count_every_step_it_trained()
    {
        const int steps = 300;
        var coordinator = Coordinator(steps);
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { Peer("teacher", "teacher"), Peer("student-a", "student"), Peer("student-b", "student") };
        coordinator.WaitFor("Checkpoint at step 10", Long);

        var frozen = peers[2];
        frozen.Pause();
        try
        {
            coordinator.WaitFor("is unreachable", Long);
            Thread.Sleep(TimeSpan.FromSeconds(30));
        }
        finally
        {
            frozen.Continue();
        }

        Assert.True(ExitOf(coordinator) == (int)ExitCode.Completed, Logs());
        foreach (var p in peers) Assert.True(ExitOf(p) == (int)ExitCode.Completed, $"{p.Name} failed\n{Logs()}");
        Assert.DoesNotContain("Restored ", frozen.Output);
        Assert.DoesNotContain("Rejoining", frozen.Output);
        var perStep = new RunFiles(Run).AssertEveryStepOnce(steps);
        var id = System.Text.RegularExpressions.Regex.Match(frozen.Output, @"Accepted as (student-\d)").Groups[1].Value;
        Assert.Contains(perStep.Values, ids => !ids.Contains(id)); // it was out for a while
        Assert.Contains(id, perStep[steps]); // and back at the end
        AssertOptimizerStepsMatchRows(peers);
    }

    /// <summary>Each peer's optimizer steps (it logs them at the end) equal its rows in steps.csv.</summary>
    private void AssertOptimizerStepsMatchRows(RunningProcess[] peers)
    {
        var rows = new RunFiles(Run).Steps().GroupBy(r => r.Model).ToDictionary(g => g.Key, g => g.Count());
        foreach (var p in peers)
        {
            var applied = System.Text.RegularExpressions.Regex.Match(p.Output, @"(teacher|student-\d+) applied (\d+) optimizer steps");
            Assert.True(applied.Success, $"{p.Name} did not say how many optimizer steps it applied\n{Logs()}");
            Assert.Equal(rows[applied.Groups[1].Value], int.Parse(applied.Groups[2].Value));
        }
    }
}
