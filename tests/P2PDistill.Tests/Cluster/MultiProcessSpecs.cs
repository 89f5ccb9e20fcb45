using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>The coordinator and peer nodes as real processes from the built executables, on 127.0.0.1.</summary>
[Trait("Category", "MultiProcess")]
[Collection(ProcessTests.Name)]
public sealed class MultiProcessSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-mp-");

    public void Dispose() => cluster.Dispose();

    private string dir => cluster.Dir;

    private RunningProcess Coordinator(Func<NodeArgs, NodeArgs> settings) => cluster.Start("coordinator", settings(cluster.Coordinator()
        .Synthetic(train: 1024, test: 128).Models("tiny", "tiny").BatchSize(32).Output(dir, "run").ClusterSummarySeconds(2)));

    private RunningProcess Peer(string name, string role, Func<NodeArgs, NodeArgs>? more = null)
    {
        var peer = cluster.Peer(role).Model("tiny").Classes(4).Threads(1).ClusterSummarySeconds(2);
        return cluster.Start(name, more?.Invoke(peer) ?? peer);
    }

    [Fact]
    public void Should_train_an_epoch_with_a_coordinator_and_three_peer_processes()
    {
        var coordinator = Coordinator(c => c.Epochs(1).MaxSteps(15).CheckpointEvery(4).KeepCheckpoints(2));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { Peer("teacher", "teacher"), Peer("student-a", "student"), Peer("student-b", "student") };

        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        foreach (var p in peers) Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);

        var files = new RunFiles(Path.Combine(dir, "run"));
        Assert.Equal(15 * 3, files.Steps().Count); // with the header checked
        Assert.Contains(files.Evaluations(), e => e.Model == "student-ensemble");
        Assert.Contains("| student-ensemble |", coordinator.Output);
        foreach (var id in new[] { "teacher", "student-1", "student-2" })
            Assert.True(new FileInfo(Path.Combine(dir, "run", "models", id + ".dat")).Length > 100, $"{id}'s weights were not exported");
        // ONNX for every model and the ensemble, and the compression report.
        foreach (var id in new[] { "teacher", "student-1", "student-2", "ensemble" })
            Assert.True(File.Exists(Path.Combine(dir, "run", "models", id + ".onnx")), $"missing models/{id}.onnx");
        var compression = File.ReadAllText(Path.Combine(dir, "run", "models", "compression.md"));
        foreach (var id in new[] { "teacher", "student-1", "student-2", "student-ensemble" })
            Assert.Contains($"| {id} |", compression);
        // Checkpoints at steps 4, 8, 12 and the epoch's end (15), the newest two kept, each whole.
        var checkpoints = new P2PDistill.Shared.Training.CheckpointStore(Path.Combine(dir, "run", "checkpoints"), 2).List();
        Assert.Equal(["step-00000015", "step-00000012"], checkpoints.Select(Path.GetFileName));
        Assert.All(checkpoints, c => Assert.Null(P2PDistill.Shared.Training.CheckpointStore.Verify(c)));
        Assert.Equal(3, P2PDistill.Shared.Training.CheckpointStore.ReadManifest(checkpoints[0]).Models.Count);

        // Cluster state is in every node's log.
        foreach (var n in cluster.Nodes)
        {
            Assert.Contains("cluster: member up", n.Output);
            Assert.Contains("cluster: leader is now", n.Output);
        }
        Assert.Contains("roles [coordinator]", coordinator.Output);
        Assert.Contains("roles [teacher]", coordinator.Output);
        Assert.Contains("roles [student]", coordinator.Output);
        // The one-line summary by role follows every change of membership.
        Assert.Matches(@"cluster: \d+ up \(coordinator 1[^)]*\); unreachable: none; leader akka\.tcp://", coordinator.Output);
    }

    [Fact]
    public void Should_admit_a_student_that_joins_mid_run_and_go_on_when_one_is_killed()
    {
        var coordinator = Coordinator(c => c.Epochs(3).MaxSteps(30).Models("cnn-teacher", "cnn-student").StepTimeout(20));
        coordinator.WaitFor("Waiting for a teacher", Long);
        Peer("teacher", "teacher", p => p.Model("cnn-teacher"));
        var doomed = Peer("student-a", "student", p => p.Model("cnn-student"));
        Peer("student-b", "student", p => p.Model("cnn-student"));
        coordinator.WaitFor("training starts", Long);
        coordinator.WaitFor("epoch 1/3", Long);

        var late = Peer("student-late", "student", p => p.Model("cnn-student"));
        coordinator.WaitFor("student-3 joined the cohort", Long);
        Assert.Contains("teacher + 3 student(s)", coordinator.Output);

        doomed.Kill();
        coordinator.WaitFor("left the cohort", Long);

        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        Assert.Equal((int)ExitCode.Completed, late.WaitForExit(Long));
        var steps = new RunFiles(Path.Combine(dir, "run")).Steps();
        Assert.Equal(90, steps.Select(s => s.GlobalStep).Distinct().Count());
        var lastStep = steps.Where(s => s.GlobalStep == 90).Select(s => s.Model).ToList();
        Assert.Contains("student-3", lastStep);
        Assert.Equal(3, lastStep.Count); // teacher + the two students still alive
        Assert.Contains(steps, s => s.Model == "student-3");
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_resume_a_crashed_run_from_its_last_checkpoint_without_gaps_or_duplicates()
    {
        static NodeArgs Settings(NodeArgs c) => c.Epochs(2).MaxSteps(20).CheckpointEvery(5).Models("cnn-teacher", "cnn-student");
        var first = Coordinator(Settings);
        first.WaitFor("Waiting for a teacher", Long);
        var crashed = new[]
        {
            Peer("teacher", "teacher", p => p.Model("cnn-teacher")), Peer("student-a", "student", p => p.Model("cnn-student")),
            Peer("student-b", "student", p => p.Model("cnn-student")),
        };
        first.WaitFor("Checkpoint at step 10", Long);
        first.Kill();
        foreach (var p in crashed) p.Kill();

        var second = Coordinator(c => Settings(c).Resume(Path.Combine(dir, "run")));
        second.WaitFor("Resuming run", Long);
        var peers = new[]
        {
            Peer("teacher-2", "teacher", p => p.Model("cnn-teacher")), Peer("student-c", "student", p => p.Model("cnn-student")),
            Peer("student-d", "student", p => p.Model("cnn-student")),
        };
        Assert.True(second.WaitForExit(Long) == (int)ExitCode.Completed, second.Output);
        Assert.Contains("training resumes at step", second.Output);
        foreach (var p in peers) Assert.Contains("Restored", p.Output);

        var files = new RunFiles(Path.Combine(dir, "run"));
        var perStep = files.AssertEveryStepOnce(40);
        Assert.All(perStep.Values, ids => Assert.Equal(["student-1", "student-2", "teacher"], ids.Order()));
        var evals = files.Evaluations();
        Assert.Equal([20L, 40L], evals.Select(e => e.GlobalStep).Distinct().Order());
        Assert.Equal(8, evals.Count); // 2 evaluations x (teacher, 2 students, ensemble)
    }

    [Fact]
    public void Should_train_in_local_data_mode_sending_no_pixels()
    {
        var coordinator = Coordinator(c => c.Epochs(1).MaxSteps(10).DataMode("local"));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { Peer("teacher", "teacher"), Peer("student-a", "student"), Peer("student-b", "student") };
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        foreach (var p in peers)
        {
            Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);
            Assert.Contains("fingerprint matches the coordinator's", p.Output);
        }
        var steps = new RunFiles(Path.Combine(dir, "run")).StepLog();
        Assert.Equal(10, steps.Count);
        // A 32-image batch is 25 KiB of pixels per model in ship mode; local mode sends (epoch, step) and the targets only.
        Assert.All(steps, s => Assert.InRange(s.BytesSent, 1, 8 * 1024));
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_refuse_a_local_node_whose_dataset_differs()
    {
        var mine = Path.Combine(dir, "data-coordinator");
        var theirs = Path.Combine(dir, "data-peer");
        Data.TestFiles.WriteIdxSet(mine, gzip: true, train: 64, test: 16);
        Data.TestFiles.WriteIdxSet(theirs, gzip: true, train: 65, test: 16);
        var coordinator = cluster.Start("coordinator", cluster.Coordinator()
            .Dataset("fashion-mnist").DataPath(mine).DataMode("local").BatchSize(16).Models("tiny", "tiny").Output(dir, "run"));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peer = cluster.Start("student", cluster.Peer("student").Model("tiny").DataPath(theirs));
        Assert.Equal((int)ExitCode.Refused, peer.WaitForExit(Long));
        Assert.Contains("differs from the coordinator's", peer.Output);
        Assert.Contains(theirs, peer.Output);
        coordinator.Kill();
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_refuse_a_student_with_the_wrong_class_count()
    {
        var coordinator = Coordinator(c => c.Epochs(1).MaxSteps(5));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var wrong = Peer("student-wrong", "student", p => p.Classes(3));
        Assert.Equal((int)ExitCode.Refused, wrong.WaitForExit(Long));
        Assert.Contains("Registration refused by the coordinator", wrong.Output);
        Assert.Contains("3 classes but the dataset 'synthetic' has 4", wrong.Output);
        coordinator.WaitFor("Refused student tiny", Long);
        coordinator.Kill();
    }
}
