using P2PDistill.Shared.Hosting;
using System.Text.RegularExpressions;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// Issue 10 with real processes: a mixed-architecture cohort that is killed and resumed with its processes restarted
/// in any order, and a coordinator whose run directory fills up or turns read-only (on a small tmpfs): it stops the run
/// cleanly, names the path, exits 1, tells the peers, and leaves the last good checkpoint valid with no temporary folder.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class RecoverySpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-recovery-");
    private readonly List<string> mounts = [];

    public void Dispose()
    {
        foreach (var n in cluster.Nodes) n.Dispose();
        foreach (var m in Enumerable.Reverse(mounts)) Run("umount", "-l", m);
        cluster.Dispose();
    }

    private RunningProcess Coordinator(string output, Func<NodeArgs, NodeArgs> settings) => cluster.Start("coordinator", settings(cluster.Coordinator()
        .Synthetic(train: 8192, test: 64).Models("tiny", "tiny").BatchSize(32).Output(output, "run").StepTimeout(60).ClusterSummarySeconds(5)));

    private RunningProcess Peer(string name, string role, string model) =>
        cluster.Start(name, cluster.Peer(role).Model(model).Classes(4).Threads(1).ClusterSummarySeconds(5));

    [Fact]
    public void Should_resume_a_mixed_architecture_cohort_whose_processes_restart_in_any_order()
    {
        static NodeArgs Settings(NodeArgs c) => c.Epochs(1).MaxSteps(40).CheckpointEvery(5).MinStudents(2);
        var first = Coordinator(cluster.Dir, Settings);
        first.WaitFor("Waiting for a teacher", Long);
        var crashed = new[] { Peer("teacher", "teacher", "tiny"), Peer("student-tiny", "student", "tiny") };
        first.WaitFor("Accepted student-1 (tiny)", Long);
        var mlp = Peer("student-mlp", "student", "mlp");
        // A checkpoint that holds all three (on a loaded machine a model can miss a step and sit one out; a checkpoint
        // written then has two models, and nothing of the third can be restored).
        first.WaitFor(new Regex(@"Checkpoint at step \d+: 3 models"), Long);
        first.Kill();
        mlp.Kill();
        foreach (var p in crashed) p.Kill();

        // Restarted in the opposite order: the mlp student registers first and must still get slot 2, its own state.
        var second = Coordinator(cluster.Dir, c => Settings(c).Resume(Path.Combine(cluster.Dir, "run")));
        second.WaitFor("Resuming run", Long);
        var mlp2 = Peer("student-mlp-2", "student", "mlp");
        mlp2.WaitFor("Accepted as", Long);
        var teacher2 = Peer("teacher-2", "teacher", "tiny");
        var tiny2 = Peer("student-tiny-2", "student", "tiny");

        Assert.True(second.WaitForExit(Long) == (int)ExitCode.Completed, second.Output);
        string Logs() => string.Join("\n\n", new[] { first, second, mlp2, teacher2, tiny2 }.Select(p => $"--- {p.Name}:\n{p.Output}"));
        foreach (var (p, id) in new[] { (mlp2, "student-2"), (tiny2, "student-1"), (teacher2, "teacher") })
            Assert.True(Regex.IsMatch(p.Output, $@"Restored {id} from the checkpoint at step \d+"), $"{p.Name} was not restored as {id}\n{Logs()}");
        foreach (var p in new[] { mlp2, teacher2, tiny2 }) Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);

        var perStep = new RunFiles(Path.Combine(cluster.Dir, "run")).AssertEveryStepOnce(40);
        Assert.Equal(["student-1", "student-2", "teacher"], perStep[40].Order());
    }

    [Fact]
    public void Should_stop_cleanly_with_exit_code_1_when_the_run_directory_fills_up()
    {
        var disk = SmallTmpfs();
        var (coordinator, peers) = StartAndCheckpoint(disk);

        FillUp(disk);

        Assert.Equal((int)ExitCode.Failed, coordinator.WaitForExit(Long));
        Assert.Contains("No space left on device", coordinator.Output);
        Assert.Contains(disk, coordinator.Output);
        AssertCleanEnd(disk, peers);
    }

    [Fact]
    public void Should_stop_cleanly_with_exit_code_1_when_the_checkpoint_folder_turns_read_only()
    {
        var disk = SmallTmpfs();
        var (coordinator, peers) = StartAndCheckpoint(disk);
        var checkpoints = Path.Combine(disk, "run", "checkpoints");

        Mount("--bind", checkpoints, checkpoints);
        Assert.Equal(0, Run("mount", "-o", "remount,bind,ro", checkpoints));

        Assert.Equal((int)ExitCode.Failed, coordinator.WaitForExit(Long));
        Assert.Contains($"could not write the checkpoint at step", coordinator.Output);
        Assert.Contains(checkpoints, coordinator.Output);
        AssertCleanEnd(disk, peers);
    }

    private (RunningProcess Coordinator, RunningProcess[] Peers) StartAndCheckpoint(string disk)
    {
        var coordinator = Coordinator(disk, c => c.Epochs(1).MaxSteps(5000).CheckpointEvery(10).KeepCheckpoints(2));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { Peer("teacher", "teacher", "tiny"), Peer("student-a", "student", "tiny"), Peer("student-b", "student", "tiny") };
        coordinator.WaitFor("Checkpoint at step 20", Long);
        return (coordinator, peers);
    }

    /// <summary>The run ended as it should: every peer told (they exit), the newest checkpoint whole, no temporary folder.</summary>
    private static void AssertCleanEnd(string disk, RunningProcess[] peers)
    {
        foreach (var p in peers)
        {
            Assert.True(p.WaitForExit(Long) == (int)ExitCode.Failed, p.Output);
            Assert.Contains("The coordinator ended the run", p.Output);
        }
        var store = new CheckpointStore(Path.Combine(disk, "run", "checkpoints"), 2);
        var newest = store.List().First();
        Assert.Null(CheckpointStore.Verify(newest));
        Assert.Empty(Directory.GetDirectories(store.Directory, ".*"));
    }

    private string SmallTmpfs()
    {
        var dir = Path.Combine(cluster.Dir, "disk");
        Directory.CreateDirectory(dir);
        Mount("-t", "tmpfs", "-o", "size=24m", "p2pdistill-test", dir);
        return dir;
    }

    private void Mount(params string[] args)
    {
        int code = Run("mount", args);
        Assert.True(code == 0, $"mount {string.Join(' ', args)} failed ({code}): these tests need root, as the CI runs");
        mounts.Add(args[^1]);
    }

    /// <summary>Writes a filler file until the file system is full.</summary>
    private static void FillUp(string disk)
    {
        var chunk = new byte[256 * 1024];
        try
        {
            using var fs = new FileStream(Path.Combine(disk, "filler"), FileMode.Create);
            while (true)
            {
                fs.Write(chunk);
                fs.Flush();
            }
        }
        catch (IOException)
        {
            // full
        }
    }

    private static int Run(string file, params string[] args) => RunningProcess.Run(Command.Of(file, args), new(), Long).ExitCode;
}
