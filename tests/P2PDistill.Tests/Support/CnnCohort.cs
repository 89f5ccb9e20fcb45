namespace P2PDistill.Tests.Support;

/// <summary>
/// The cohort the fault tests act on mid-run: a CNN teacher and CNN students on 4-class synthetic data, whose steps are
/// long enough (tens of ms) to kill, freeze or start a process between two of them.
/// </summary>
public static class CnnCohort
{
    public static NodeArgs CnnRun(this NodeArgs coordinator, string output, int stepTimeout, string runName = "run") =>
        coordinator.Synthetic(train: 16384, test: 128).Models("cnn-teacher", "cnn-student").BatchSize(32).Output(output, runName)
            .CheckpointEvery(5).StepTimeout(stepTimeout).ClusterSummarySeconds(5);

    public static NodeArgs CnnPeer(this ProcessCluster cluster, string role) =>
        cluster.Peer(role).Model(role == "teacher" ? "cnn-teacher" : "cnn-student").Classes(4).Threads(1).ClusterSummarySeconds(5);
}
