using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// DESIGN.md §6 with real processes: a killed student or teacher restarted mid-run comes back from the last checkpoint,
/// the teacher-lost policies (wait, continue-ml), and peers that find a restarted coordinator by themselves.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class FailurePolicySpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);
    private readonly ProcessCluster cluster = new("p2pdistill-policy-");

    public void Dispose() => cluster.Dispose();

    private string Run => Path.Combine(cluster.Dir, "run");

    /// <summary>A coordinator with CNN models on synthetic data: steps long enough (tens of ms) to act mid-run.</summary>
    private RunningNode Coordinator(params string[] extra) => cluster.Start("coordinator", "p2pdistill-coordinator.dll",
        ["--port", cluster.Port.ToString(), "--dataset", "synthetic", "--Data:SyntheticTrain=16384", "--Data:SyntheticTest=128",
         "--teacher-model", "cnn-teacher", "--student-model", "cnn-student", "--batch-size", "32", "--output", cluster.Dir, "--run-name", "run",
         "--checkpoint-every", "5", "--step-timeout", "30", "--Node:ClusterSummarySeconds=5", .. extra]);

    private RunningNode Peer(string name, string role, params string[] extra) => cluster.Start(name, "p2pdistill-peer.dll",
        ["--role", role, "--model", role == "teacher" ? "cnn-teacher" : "cnn-student", "--classes", "4", "--seed-nodes", cluster.Seed, "--threads", "1",
         "--Node:ClusterSummarySeconds=5", .. extra]);

    private List<string[]> StepRows() =>
        File.ReadAllLines(Path.Combine(Run, "metrics", "steps.csv")).Skip(1).Select(l => l.Split(',')).ToList();

    /// <summary>Every step from 1 to <paramref name="steps"/> exactly once per model that trained it: no gaps, no duplicates.</summary>
    private Dictionary<long, List<string>> AssertStepsComplete(int steps)
    {
        var perStep = StepRows().GroupBy(r => long.Parse(r[2])).ToDictionary(g => g.Key, g => g.Select(r => r[3]).ToList());
        Assert.Equal(Enumerable.Range(1, steps).Select(i => (long)i), perStep.Keys.Order());
        Assert.All(perStep.Values, ids => Assert.Equal(ids.Count, ids.Distinct().Count()));
        return perStep;
    }

    [Fact]
    public void Should_restore_a_killed_student_from_the_last_checkpoint_when_it_is_restarted()
    {
        var coordinator = Coordinator("--epochs", "1", "--max-steps", "400");
        coordinator.WaitFor("Waiting for a teacher", Long);
        Peer("teacher", "teacher");
        var doomed = Peer("student-a", "student");
        Peer("student-b", "student");
        coordinator.WaitFor("Checkpoint at step 10", Long);
        doomed.Kill();
        coordinator.WaitFor("left the cohort", Long);

        var again = Peer("student-a-again", "student");
        again.WaitFor("Restored student-", Long);
        coordinator.WaitFor("joined the cohort at step", Long);
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        Assert.Equal((int)ExitCode.Completed, again.WaitForExit(Long));

        // It came back in the slot that was free (the killed student's), from that slot's state in a checkpoint taken
        // after at least 10 steps, and trained to the end.
        var restored = System.Text.RegularExpressions.Regex.Match(again.Output,
            @"Restored (student-\d) from the checkpoint at step (\d+): (\d+) optimizer steps applied");
        Assert.True(restored.Success, again.Output);
        var id = restored.Groups[1].Value;
        Assert.InRange(int.Parse(restored.Groups[2].Value), 10, 400);
        Assert.Equal(restored.Groups[2].Value, restored.Groups[3].Value); // one optimizer step per global step
        Assert.Contains($"Accepted as {id}", again.Output);
        var perStep = AssertStepsComplete(400);
        Assert.Contains(id, perStep[400]);
        Assert.Equal(3, perStep[400].Count);
        Assert.Contains(perStep.Values, ids => !ids.Contains(id)); // it was out for a while
    }

    [Fact]
    public void Should_pause_without_a_teacher_and_resume_from_the_checkpoint_when_one_returns()
    {
        var coordinator = Coordinator("--epochs", "1", "--max-steps", "200", "--teacher-lost", "wait");
        coordinator.WaitFor("Waiting for a teacher", Long);
        var teacher = Peer("teacher", "teacher");
        Peer("student-a", "student");
        Peer("student-b", "student");
        coordinator.WaitFor("Checkpoint at step 10", Long);
        teacher.Kill();
        coordinator.WaitFor("no teacher in the cohort (teacher-lost policy: wait)", Long);
        int pausedAt = StepRows().Select(r => int.Parse(r[2])).Max();
        Thread.Sleep(3000);
        Assert.Equal(pausedAt, StepRows().Select(r => int.Parse(r[2])).Max()); // nothing trains while it waits

        var back = Peer("teacher-again", "teacher");
        back.WaitFor("Restored teacher from the checkpoint at step", Long);
        coordinator.WaitFor("training resumes at step", Long);
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        Assert.Equal((int)ExitCode.Completed, back.WaitForExit(Long));

        // The teacher trained every step before the kill and after it came back; only the step in flight when it died
        // finished without it (the students had already sent their logits).
        var perStep = AssertStepsComplete(200);
        Assert.InRange(perStep.Values.Count(ids => !ids.Contains("teacher")), 0, 1);
        Assert.Contains("teacher", perStep[200]);
    }

    [Fact]
    public void Should_go_on_with_mutual_learning_only_when_the_teacher_is_lost_under_continue_ml()
    {
        var coordinator = Coordinator("--epochs", "1", "--max-steps", "150", "--teacher-lost", "continue-ml");
        coordinator.WaitFor("Waiting for a teacher", Long);
        var teacher = Peer("teacher", "teacher");
        var students = new[] { Peer("student-a", "student"), Peer("student-b", "student") };
        coordinator.WaitFor("Checkpoint at step 10", Long);
        teacher.Kill();
        coordinator.WaitFor("teacher left the cohort", Long);
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        foreach (var s in students) Assert.Equal((int)ExitCode.Completed, s.WaitForExit(Long));
        Assert.DoesNotContain("Training paused", coordinator.Output);

        var perStep = AssertStepsComplete(150);
        Assert.Contains("teacher", perStep[1]);
        Assert.DoesNotContain("teacher", perStep[150]);
        Assert.Equal(["student-1", "student-2"], perStep[150].Order());
        // Without a teacher the students' KD term is zero and ML carries on.
        var header = File.ReadAllLines(Path.Combine(Run, "metrics", "steps.csv"))[0].Split(',');
        int kd = Array.IndexOf(header, "kd"), ml = Array.IndexOf(header, "ml");
        var last = StepRows().Where(r => r[2] == "150").ToList();
        Assert.All(last, r => Assert.Equal(0.0, double.Parse(r[kd], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.All(last, r => Assert.True(double.Parse(r[ml], System.Globalization.CultureInfo.InvariantCulture) > 0));
    }

    [Fact]
    public void Should_let_peers_rejoin_a_coordinator_restarted_with_resume_by_themselves()
    {
        string[] settings = ["--epochs", "2", "--max-steps", "30"];
        var first = Coordinator(settings);
        first.WaitFor("Waiting for a teacher", Long);
        var peers = new[]
        {
            Peer("teacher", "teacher", "--rejoin-grace", "3"), Peer("student-a", "student", "--rejoin-grace", "3"),
            Peer("student-b", "student", "--rejoin-grace", "3"),
        };
        first.WaitFor("Checkpoint at step 10", Long);
        first.Kill();
        foreach (var p in peers) p.WaitFor("Lost the coordinator", Long);

        var second = Coordinator([.. settings, "--resume", Run]);
        Assert.True(second.WaitForExit(Long) == (int)ExitCode.Completed, second.Output);
        foreach (var p in peers)
        {
            Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);
            Assert.Contains("Rejoining the cluster as a fresh member", p.Output);
            Assert.Matches(@"Restored \S+ from the checkpoint at step \d+", p.Output);
        }
        var perStep = AssertStepsComplete(60);
        Assert.All(perStep.Values, ids => Assert.Equal(["student-1", "student-2", "teacher"], ids.Order()));
        var evals = File.ReadAllLines(Path.Combine(Run, "metrics", "eval.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(["30", "60"], evals.Select(e => e[1]).Distinct().Order());
    }
}
