using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Detection.Runs;

/// <summary>A detection run whose processes are all killed goes on from its last checkpoint with new processes, as classification does.</summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class DetectionResumeSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(4);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-det-resume-");

    public void Dispose() => cluster.Dispose();

    [Fact]
    public void Should_resume_a_crashed_detection_run_from_its_last_checkpoint_without_gaps_or_duplicates()
    {
        NodeArgs Settings(NodeArgs c) => c.Task("detection").Models("det-student", "det-student")
            .Config("Data:SyntheticTrain", 96).Config("Data:SyntheticTest", 8).Epochs(2).BatchSize(8).CheckpointEvery(2)
            .MinStudents(2).Output(cluster.Dir, "run");
        List<RunningProcess> Peers(string suffix) => new[] { "teacher", "student", "student" }.Select((role, i) => cluster.Start($"{role}-{i}{suffix}",
            cluster.Peer(role).Model("det-student").Classes(2).InputShape("3x64x64").Threads(1))).ToList();

        var first = cluster.Start("coordinator", Settings(cluster.Coordinator()));
        first.WaitFor("Waiting for a teacher", Long);
        var crashed = Peers("");
        first.WaitFor("Checkpoint at step 2", Long); // 22 of the 24 steps still to go: the kill lands mid-run
        first.Kill();
        foreach (var p in crashed) p.Kill();

        var second = cluster.Start("coordinator-2", Settings(cluster.Coordinator()).Resume(Path.Combine(cluster.Dir, "run")));
        second.WaitFor("Resuming run", Long);
        var peers = Peers("-again");
        Assert.True(second.WaitForExit(Long) == (int)ExitCode.Completed, second.Output);
        Assert.Contains("training resumes at step", second.Output);
        foreach (var p in peers) Assert.Contains("Restored", p.Output);

        var files = new RunFiles(Path.Combine(cluster.Dir, "run"));
        files.AssertEveryStepOnce(24);
        var eval = File.ReadAllLines(Path.Combine(cluster.Dir, "run", "metrics", "eval.csv"));
        Assert.Equal("epoch,global_step,model,role,map50,map50_95,detections,ground_truths,split", eval[0]);
        Assert.Equal(8, eval.Length - 1); // 2 evaluations x (teacher, 2 students, ensemble)
        Assert.StartsWith("2,24,student-ensemble,ensemble,", eval[^1]);
    }
}
