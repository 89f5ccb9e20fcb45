using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Detection.Runs;

/// <summary>Detection across real node processes: a coordinator, a teacher and two students, each its own process, over loopback.</summary>
[Trait("Category", "MultiProcess")]
[Collection(ProcessTests.Name)]
public sealed class DetectionClusterSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(4);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-det-cluster-");

    public void Dispose() => cluster.Dispose();

    [Fact]
    public void Should_train_a_detector_cohort_across_processes_and_score_map()
    {
        var coordinator = cluster.Start("coordinator", cluster.Coordinator().Task("detection").Models("det-student", "det-student")
            .Config("Data:SyntheticTrain", 48).Config("Data:SyntheticTest", 16).Epochs(1).BatchSize(8).MaxSteps(4).MinStudents(2)
            .Output(cluster.Dir, "run"));
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[] { "teacher", "student", "student" }.Select((role, i) => cluster.Start($"{role}-{i}",
            cluster.Peer(role).Model("det-student").Classes(2).InputShape("3x64x64").Threads(1))).ToList();

        Assert.True(coordinator.WaitForExit(Long) == (int)ExitCode.Completed, coordinator.Output);
        foreach (var p in peers) Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, $"{p.Name}:\n{p.Output}");
        var eval = File.ReadAllLines(Path.Combine(cluster.Dir, "run", "metrics", "eval.csv"));
        Assert.Equal("epoch,global_step,model,role,map50,map50_95,detections,ground_truths,split", eval[0]);
        Assert.Equal(4, eval.Length - 1);
        Assert.StartsWith("1,4,student-ensemble,ensemble,", eval[^1]);
        Assert.Contains("student-ensemble map50=", coordinator.Output);
        var steps = File.ReadAllLines(Path.Combine(cluster.Dir, "run", "metrics", "steps.csv"));
        Assert.Equal(4 * 3, steps.Length - 1);
    }
}
