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
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-policy-");

    public void Dispose() => cluster.Dispose();

    private string Run => Path.Combine(cluster.Dir, "run");

    private RunFiles Files => new(Run);

    /// <summary>A coordinator with CNN models on synthetic data: steps long enough (tens of ms) to act mid-run.</summary>
    private RunningProcess Coordinator(Func<NodeArgs, NodeArgs> settings) =>
        cluster.Start("coordinator", settings(cluster.Coordinator().CnnRun(cluster.Dir, stepTimeout: 30)));

    private RunningProcess Peer(string name, string role, Func<NodeArgs, NodeArgs>? more = null)
    {
        var peer = cluster.CnnPeer(role);
        return cluster.Start(name, more?.Invoke(peer) ?? peer);
    }

    [Fact]
    public void Should_restore_a_killed_student_from_the_last_checkpoint_when_it_is_restarted()
    {
        var coordinator = Coordinator(c => c.Epochs(1).MaxSteps(400));
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
        var perStep = Files.AssertEveryStepOnce(400);
        Assert.Contains(id, perStep[400]);
        Assert.Equal(3, perStep[400].Count);
        Assert.Contains(perStep.Values, ids => !ids.Contains(id)); // it was out for a while
    }

    /// <summary>A teacher and two students training under the teacher-lost policy wait, past the checkpoint at step 10.</summary>
    private (RunningProcess Coordinator, RunningProcess Teacher) TrainingUnderWait(int maxSteps)
    {
        var coordinator = Coordinator(c => c.Epochs(1).MaxSteps(maxSteps).TeacherLost("wait"));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var teacher = Peer("teacher", "teacher");
        Peer("student-a", "student");
        Peer("student-b", "student");
        coordinator.WaitFor("Checkpoint at step 10", Long);
        return (coordinator, teacher);
    }

    [Fact]
    public void Should_let_a_teacher_stopped_with_sigterm_mid_run_leave_and_exit_instead_of_rejoining()
    {
        // SIGTERM is how systemd, `podman stop` and Kubernetes stop a node: it leaves the cluster and exits 0. Its own
        // leave removes every member from its view, the coordinator's too; that is not a lost coordinator to rejoin.
        var (coordinator, teacher) = TrainingUnderWait(maxSteps: 400);
        teacher.Terminate();
        Assert.Equal((int)ExitCode.Completed, teacher.WaitForExit(Long));
        Assert.False(teacher.Output.Contains("Rejoining", StringComparison.Ordinal) || teacher.Output.Contains("Lost the coordinator", StringComparison.Ordinal),
            $"the teacher took its own leave for a lost coordinator:\n{teacher.Output}");
        coordinator.WaitFor("no teacher in the cohort (teacher-lost policy: wait)", Long);

        var back = Peer("teacher-again", "teacher");
        back.WaitFor("Restored teacher from the checkpoint at step", Long);
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        Assert.Equal((int)ExitCode.Completed, back.WaitForExit(Long));
    }

    [Fact]
    public void Should_pause_without_a_teacher_and_resume_from_the_checkpoint_when_one_returns()
    {
        var (coordinator, teacher) = TrainingUnderWait(maxSteps: 200);
        teacher.Kill();
        coordinator.WaitFor("no teacher in the cohort (teacher-lost policy: wait)", Long);
        long pausedAt = Files.Steps().Max(r => r.GlobalStep);
        Thread.Sleep(3000);
        Assert.Equal(pausedAt, Files.Steps().Max(r => r.GlobalStep)); // nothing trains while it waits

        var back = Peer("teacher-again", "teacher");
        back.WaitFor("Restored teacher from the checkpoint at step", Long);
        coordinator.WaitFor("training resumes at step", Long);
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        Assert.Equal((int)ExitCode.Completed, back.WaitForExit(Long));

        // The teacher trained every step before the kill and after it came back; only the steps in flight when it died
        // finished without it: the one under way (the students had already sent their logits) and those whose logits the
        // teacher had already sent by running ahead (--teacher-lookahead), whose own updates were never counted.
        var perStep = Files.AssertEveryStepOnce(200);
        Assert.InRange(perStep.Values.Count(ids => !ids.Contains("teacher")), 0, 1 + P2PDistill.Coordinator.Actors.CoordinatorSettings.DefaultTeacherLookahead);
        Assert.Contains("teacher", perStep[200]);
    }

    [Fact]
    public void Should_go_on_with_mutual_learning_only_when_the_teacher_is_lost_under_continue_ml()
    {
        var coordinator = Coordinator(c => c.Epochs(1).MaxSteps(150).TeacherLost("continue-ml"));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var teacher = Peer("teacher", "teacher");
        var students = new[] { Peer("student-a", "student"), Peer("student-b", "student") };
        coordinator.WaitFor("Checkpoint at step 10", Long);
        teacher.Kill();
        coordinator.WaitFor("teacher left the cohort", Long);
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        foreach (var s in students) Assert.Equal((int)ExitCode.Completed, s.WaitForExit(Long));
        Assert.DoesNotContain("Training paused", coordinator.Output);

        var perStep = Files.AssertEveryStepOnce(150);
        Assert.Contains("teacher", perStep[1]);
        Assert.DoesNotContain("teacher", perStep[150]);
        Assert.Equal(["student-1", "student-2"], perStep[150].Order());
        // Without a teacher the students' KD term is zero and ML carries on.
        var last = Files.Steps().Where(r => r.GlobalStep == 150).ToList();
        Assert.All(last, r => Assert.Equal(0.0, r.Kd));
        Assert.All(last, r => Assert.True(r.Ml > 0));
    }

    [Fact]
    public void Should_let_peers_rejoin_a_coordinator_restarted_with_resume_by_themselves()
    {
        static NodeArgs Settings(NodeArgs c) => c.Epochs(2).MaxSteps(30);
        var first = Coordinator(Settings);
        first.WaitFor("Waiting for a teacher", Long);
        var peers = new[]
        {
            Peer("teacher", "teacher", p => p.RejoinGrace(3)), Peer("student-a", "student", p => p.RejoinGrace(3)),
            Peer("student-b", "student", p => p.RejoinGrace(3)),
        };
        first.WaitFor("Checkpoint at step 10", Long);
        first.Kill();
        foreach (var p in peers) p.WaitFor("Lost the coordinator", Long);

        var second = Coordinator(c => Settings(c).Resume(Run));
        Assert.True(second.WaitForExit(Long) == (int)ExitCode.Completed, second.Output);
        foreach (var p in peers)
        {
            Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);
            Assert.Contains("Rejoining the cluster as a fresh member", p.Output);
            Assert.Matches(@"Restored \S+ from the checkpoint at step \d+", p.Output);
        }
        var perStep = Files.AssertEveryStepOnce(60);
        Assert.All(perStep.Values, ids => Assert.Equal(["student-1", "student-2", "teacher"], ids.Order()));
        Assert.Equal([30L, 60L], Files.Evaluations().Select(e => e.GlobalStep).Distinct().Order());
    }
}
