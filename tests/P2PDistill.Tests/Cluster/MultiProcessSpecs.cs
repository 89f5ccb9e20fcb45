using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Runs;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>The coordinator and peer nodes as real processes from the built executables, on 127.0.0.1.</summary>
[Trait("Category", "MultiProcess")]
[Collection(ProcessTests.Name)]
public sealed class MultiProcessSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);
    private readonly ProcessCluster cluster = new("p2pdistill-mp-");

    public void Dispose() => cluster.Dispose();

    private string dir => cluster.Dir;

    private int port => cluster.Port;

    private string Seed => cluster.Seed;

    private RunningNode Coordinator(params string[] extra) => cluster.Start("coordinator", "p2pdistill-coordinator.dll",
        ["--port", port.ToString(), "--dataset", "synthetic", "--Data:SyntheticTrain=1024", "--Data:SyntheticTest=128",
         "--teacher-model", "tiny", "--student-model", "tiny", "--batch-size", "32", "--output", dir, "--run-name", "run",
         "--Node:ClusterSummarySeconds=2", .. extra]);

    private RunningNode Peer(string name, string role, params string[] extra) => cluster.Start(name, "p2pdistill-peer.dll",
        ["--role", role, "--model", "tiny", "--classes", "4", "--seed-nodes", Seed, "--threads", "1", "--Node:ClusterSummarySeconds=2", .. extra]);

    [Fact]
    public void Should_train_an_epoch_with_a_coordinator_and_three_peer_processes()
    {
        var coordinator = Coordinator("--epochs", "1", "--max-steps", "15", "--checkpoint-every", "4", "--keep-checkpoints", "2");
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { Peer("teacher", "teacher"), Peer("student-a", "student"), Peer("student-b", "student") };

        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        foreach (var p in peers) Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);

        var steps = File.ReadAllLines(Path.Combine(dir, "run", "metrics", "steps.csv"));
        Assert.Equal(MetricsWriter.StepsCsvHeader, steps[0]);
        Assert.Equal(15 * 3, steps.Length - 1);
        Assert.Contains(File.ReadAllLines(Path.Combine(dir, "run", "metrics", "eval.csv")), l => l.Contains("student-ensemble"));
        Assert.Contains("| student-ensemble |", coordinator.Output);
        foreach (var id in new[] { "teacher", "student-1", "student-2" })
            Assert.True(new FileInfo(Path.Combine(dir, "run", "models", id + ".dat")).Length > 100, $"{id}'s weights were not exported");
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
        var coordinator = Coordinator("--epochs", "3", "--max-steps", "30", "--student-model", "cnn-student", "--teacher-model", "cnn-teacher",
            "--step-timeout", "20");
        coordinator.WaitFor("Waiting for a teacher", Long);
        Peer("teacher", "teacher", "--model", "cnn-teacher");
        var doomed = Peer("student-a", "student", "--model", "cnn-student");
        Peer("student-b", "student", "--model", "cnn-student");
        coordinator.WaitFor("training starts", Long);
        coordinator.WaitFor("epoch 1/3", Long);

        var late = Peer("student-late", "student", "--model", "cnn-student");
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
        string[] settings = ["--epochs", "2", "--max-steps", "20", "--checkpoint-every", "5", "--student-model", "cnn-student", "--teacher-model", "cnn-teacher"];
        var first = Coordinator(settings);
        first.WaitFor("Waiting for a teacher", Long);
        var crashed = new[]
        {
            Peer("teacher", "teacher", "--model", "cnn-teacher"), Peer("student-a", "student", "--model", "cnn-student"),
            Peer("student-b", "student", "--model", "cnn-student"),
        };
        first.WaitFor("Checkpoint at step 10", Long);
        first.Kill();
        foreach (var p in crashed) p.Kill();

        var second = Coordinator([.. settings, "--resume", Path.Combine(dir, "run")]);
        second.WaitFor("Resuming run", Long);
        var peers = new[]
        {
            Peer("teacher-2", "teacher", "--model", "cnn-teacher"), Peer("student-c", "student", "--model", "cnn-student"),
            Peer("student-d", "student", "--model", "cnn-student"),
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
        var coordinator = Coordinator("--epochs", "1", "--max-steps", "10", "--data-mode", "local");
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { Peer("teacher", "teacher"), Peer("student-a", "student"), Peer("student-b", "student") };
        Assert.Equal((int)ExitCode.Completed, coordinator.WaitForExit(Long));
        foreach (var p in peers)
        {
            Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);
            Assert.Contains("fingerprint matches the coordinator's", p.Output);
        }
        var steps = File.ReadAllLines(Path.Combine(dir, "run", "metrics", "steps.jsonl"));
        Assert.Equal(10, steps.Length);
        // A 32-image batch is 25 KiB of pixels per model in ship mode; local mode sends (epoch, step) and the targets only.
        Assert.All(steps, l => Assert.InRange(System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("bytes_sent").GetInt64(), 1, 8 * 1024));
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_refuse_a_local_node_whose_dataset_differs()
    {
        var mine = Path.Combine(dir, "data-coordinator");
        var theirs = Path.Combine(dir, "data-peer");
        Data.TestFiles.WriteIdxSet(mine, gzip: true, train: 64, test: 16);
        Data.TestFiles.WriteIdxSet(theirs, gzip: true, train: 65, test: 16);
        var coordinator = cluster.Start("coordinator", "p2pdistill-coordinator.dll",
            ["--port", port.ToString(), "--dataset", "fashion-mnist", "--data-path", mine, "--data-mode", "local", "--batch-size", "16",
             "--teacher-model", "tiny", "--student-model", "tiny", "--output", dir, "--run-name", "run"]);
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peer = cluster.Start("student", "p2pdistill-peer.dll",
            ["--role", "student", "--model", "tiny", "--seed-nodes", Seed, "--data-path", theirs]);
        Assert.Equal((int)ExitCode.Refused, peer.WaitForExit(Long));
        Assert.Contains("differs from the coordinator's", peer.Output);
        Assert.Contains(theirs, peer.Output);
        coordinator.Kill();
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_refuse_a_student_with_the_wrong_class_count()
    {
        var coordinator = Coordinator("--epochs", "1", "--max-steps", "5");
        coordinator.WaitFor("Waiting for a teacher", Long);
        var wrong = Peer("student-wrong", "student", "--classes", "3");
        Assert.Equal((int)ExitCode.Refused, wrong.WaitForExit(Long));
        Assert.Contains("Registration refused by the coordinator", wrong.Output);
        Assert.Contains("3 classes but the dataset 'synthetic' has 4", wrong.Output);
        coordinator.WaitFor("Refused student tiny", Long);
        coordinator.Kill();
    }
}
