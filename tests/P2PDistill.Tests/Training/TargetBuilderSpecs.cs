using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Training;

[Trait("Category", "Unit")]
public sealed class TargetBuilderSpecs
{
    private static readonly float[] Teacher = [1, 0, 0, 1];
    private static readonly float[][] Students = [[0.5f, 0.1f, -1, 2], [0, 0, 3, -1], [2, 1, 0, 0]];

    [Fact]
    public void Should_send_teacher_and_peer_sums_in_kd_ml_mode()
    {
        var targets = TargetBuilder.Build(Teacher, Students, 2, 2, new DistillationSettings(DistillMode.KdMl));
        Assert.Equal(3, targets.Length);
        Assert.All(targets, t =>
        {
            Assert.Same(Teacher, t.TeacherLogits);
            Assert.Equal(2, t.Peers);
            Assert.Equal(4, t.PeerProbSum!.Length);
            Assert.Equal(2, t.PeerNegEntropySum!.Length);
        });
        // Each row of S_i sums to the number of peers.
        Assert.Equal(2.0, targets[0].PeerProbSum![0] + targets[0].PeerProbSum![1], 5);
    }

    [Fact]
    public void Should_equal_the_direct_sum_over_peers()
    {
        var targets = TargetBuilder.Build(Teacher, Students, 2, 2, new DistillationSettings(DistillMode.Ml, TemperatureMl: 2));
        var p1 = PeerTargets.Softmax(Array.ConvertAll(Students[1], v => (double)v), 2, 2, 2).Probs;
        var p2 = PeerTargets.Softmax(Array.ConvertAll(Students[2], v => (double)v), 2, 2, 2).Probs;
        for (int k = 0; k < 4; k++) Assert.Equal(p1[k] + p2[k], targets[0].PeerProbSum![k], 6);
    }

    [Theory]
    [InlineData(DistillMode.Independent, false, false)]
    [InlineData(DistillMode.Kd, true, false)]
    [InlineData(DistillMode.Ml, false, true)]
    [InlineData(DistillMode.KdMl, true, true)]
    public void Should_send_only_what_the_mode_uses(DistillMode mode, bool teacher, bool peers)
    {
        var t = TargetBuilder.Build(Teacher, Students, 2, 2, new DistillationSettings(mode))[1];
        Assert.Equal(teacher, t.TeacherLogits is not null);
        Assert.Equal(peers, t.PeerProbSum is not null);
        Assert.Equal(peers ? 2 : 0, t.Peers);
    }

    [Fact]
    public void Should_have_no_peers_for_a_lone_student()
    {
        var t = TargetBuilder.Build(Teacher, [Students[0]], 2, 2, new DistillationSettings(DistillMode.KdMl))[0];
        Assert.Equal(0, t.Peers);
        Assert.Null(t.PeerProbSum);
    }

    [Fact]
    public void Should_grow_linearly_with_the_students()
    {
        long Bytes(int n) => TargetBuilder.Build(Teacher, Enumerable.Repeat(Students[0], n).ToList(), 2, 2, new DistillationSettings()).Sum(t => t.PayloadBytes);
        Assert.Equal(Bytes(4) * 2, Bytes(8));
    }
}
