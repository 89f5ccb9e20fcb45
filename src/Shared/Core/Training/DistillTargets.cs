using P2PDistill.Shared.Losses;

namespace P2PDistill.Shared.Training;

/// <summary>
/// What a student needs for its KD and ML terms in one step, as plain float32 arrays (row-major [B, C]
/// or [B]): the teacher's logits (KD), and the peer sums of DESIGN.md §1 (ML). Null parts are unused by the mode.
/// </summary>
public sealed record DistillTargets(float[]? TeacherLogits, float[]? PeerProbSum, float[]? PeerNegEntropySum, int Peers)
{
    public static DistillTargets None { get; } = new(null, null, null, 0);

    public long PayloadBytes => 4L * ((TeacherLogits?.Length ?? 0) + (PeerProbSum?.Length ?? 0) + (PeerNegEntropySum?.Length ?? 0));
}

/// <summary>Builds every student's targets from the step's logits: what the coordinator does between the two halves of a step.</summary>
public static class TargetBuilder
{
    /// <param name="teacherLogits">The teacher's logits, or null when there is no teacher this step.</param>
    /// <param name="studentLogits">Every admitted student's logits, in cohort order.</param>
    public static DistillTargets[] Build(float[]? teacherLogits, IReadOnlyList<float[]> studentLogits, int batch, int classes, DistillationSettings settings)
    {
        var n = studentLogits.Count;
        var teacher = settings.Mode.UsesTeacher() ? teacherLogits : null;
        PeerSums[]? peers = settings.Mode.UsesPeers() && n > 1
            ? PeerTargets.Build(studentLogits, batch, classes, settings.TemperatureMl)
            : null;
        var result = new DistillTargets[n];
        for (int i = 0; i < n; i++)
        {
            result[i] = peers is null
                ? new DistillTargets(teacher, null, null, 0)
                : new DistillTargets(teacher, ToFloat(peers[i].ProbSum), ToFloat(peers[i].NegEntropySum), peers[i].Peers);
        }
        return result;
    }

    private static float[] ToFloat(double[] values) => Array.ConvertAll(values, v => (float)v);
}
