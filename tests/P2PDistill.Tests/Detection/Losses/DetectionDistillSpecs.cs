using P2PDistill.Shared.Detection;
using TorchSharp;
using static P2PDistill.Tests.Detection.Losses.DetectionLossTesting;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Losses;

/// <summary>KD and ML between dense maps (docs/design/detection.md §3) against hand values and a plain-double reference.</summary>
[Trait("Category", "Unit")]
public sealed class DetectionDistillSpecs
{
    [Fact]
    public void Should_compute_the_Bernoulli_KL_by_hand()
    {
        using var scope = NewDisposeScope();
        // p = σ(0) = ½ against q = σ(−ln 3) = ¼: ½ ln(½/¼) + ½ ln(½/¾) = ½ ln(4/3). At T = 2 the logits are halved,
        // so the teacher 0 against the student −2 ln 3 is the same pair. Equal logits: 0.
        // p = σ(ln 3) = ¾ against q = ½: ¾ ln(3/2) + ¼ ln(1/2).
        var teacher = tensor(new[] { 0, 0, 1.7, Math.Log(3) });
        var student = tensor(new[] { -Math.Log(3), -2 * Math.Log(3), 1.7, 0 });

        var t1 = Values(DetectionLoss.BernoulliKl(teacher, student, 1));
        var t2 = Values(DetectionLoss.BernoulliKl(teacher, student, 2));

        double quarter = 0.5 * Math.Log(4.0 / 3);
        Assert.Equal(quarter, t1[0], 12);
        Assert.Equal(quarter, t2[1], 12);
        Assert.Equal(0.0, t1[2], 15);
        Assert.Equal(0.75 * Math.Log(1.5) + 0.25 * Math.Log(0.5), t1[3], 12);
    }

    [Fact]
    public void Should_compute_the_softmax_KL_by_hand()
    {
        using var scope = NewDisposeScope();
        // softmax([0, 0]) = (½, ½) against softmax([0, ln 3]) = (¼, ¾): ½ ln 2 + ½ ln(2/3).
        var kl = DetectionLoss.SoftmaxKl(tensor(new double[] { 0, 0 }), tensor(new[] { 0, Math.Log(3) }), 1).ToDouble();
        Assert.Equal(0.5 * Math.Log(2) + 0.5 * Math.Log(2.0 / 3), kl, 12);
    }

    [Fact]
    public void Should_weight_each_location_by_the_teachers_foreground_score_normalised_over_the_batch()
    {
        using var scope = NewDisposeScope();
        var layout = Small;
        var map = RandomMap(3, 2, layout);
        var weights = Values(DetectionLoss.SourceWeights(MapTensor(map, 2, layout), layout));

        var w = new double[40];
        for (int r = 0; r < 40; r++) w[r] = Math.Max(Sigmoid(map[r * 18]), Sigmoid(map[r * 18 + 1]));
        AssertClose(w.Select(v => v / w.Sum()).ToArray(), weights, 1e-12, 1e-15, "ŵ");
        Assert.False(DetectionLoss.SourceWeights(MapTensor(map, 2, layout).requires_grad_(), layout).requires_grad);

        // A quiet teacher (Σ w < 1) is not inflated: ŵ = w.
        var quiet = Enumerable.Repeat(-8.0, 20 * 18).ToArray();
        var quietWeights = Values(DetectionLoss.SourceWeights(MapTensor(quiet, 1, layout), layout));
        Assert.All(quietWeights, v => Assert.Equal(Sigmoid(-8), v, 15));
    }

    [Fact]
    public void Should_have_zero_KD_when_the_student_equals_the_teacher()
    {
        using var scope = NewDisposeScope();
        var map = MapTensor(RandomMap(5, 2, Small), 2, Small);
        Assert.Equal(0.0, DetectionLoss.Kd(map, map, 1, Small).ToDouble(), 14);
        Assert.Equal(0.0, DetectionLoss.Kd(map, map, 4, Small).ToDouble(), 14);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.5)]
    public void Should_match_KD_written_out_from_its_definition(double temperature)
    {
        using var scope = NewDisposeScope();
        var student = RandomMap(7, 2, Small);
        var teacher = RandomMap(8, 2, Small, scale: 3);

        var kd = DetectionLoss.Kd(MapTensor(student, 2, Small), MapTensor(teacher, 2, Small), temperature, Small).ToDouble();

        Assert.True(kd > 0);
        AssertClose(ReferenceKd(student, teacher, 2, Small, temperature), kd, 1e-10, "kd");
    }

    [Fact]
    public void Should_split_KD_into_its_class_and_side_parts()
    {
        using var scope = NewDisposeScope();
        var student = MapTensor(RandomMap(9, 1, Small), 1, Small);
        var teacher = MapTensor(RandomMap(10, 1, Small), 1, Small);
        // A student differing only in its sides has no class part, and conversely.
        var sameClasses = teacher.clone();
        sameClasses.narrow(2, Small.Classes, 4 * Small.Bins).copy_(student.narrow(2, Small.Classes, 4 * Small.Bins));

        Assert.Equal(0.0, DetectionLoss.KdClasses(sameClasses, teacher, 2, Small).ToDouble(), 14);
        Assert.True(DetectionLoss.KdSides(sameClasses, teacher, 2, Small).ToDouble() > 0);
        AssertClose(
            DetectionLoss.KdClasses(student, teacher, 2, Small).ToDouble() + DetectionLoss.KdSides(student, teacher, 2, Small).ToDouble(),
            DetectionLoss.Kd(student, teacher, 2, Small).ToDouble(), 1e-14, "kd");
    }

    [Fact]
    public void Should_not_send_gradient_into_the_teacher()
    {
        using var scope = NewDisposeScope();
        var student = MapTensor(RandomMap(12, 1, Small), 1, Small).requires_grad_();
        var teacher = MapTensor(RandomMap(13, 1, Small), 1, Small).requires_grad_();

        DetectionLoss.Kd(student, teacher, 2, Small).backward();

        Assert.NotNull(student.grad);
        Assert.Null(teacher.grad);
    }

    [Fact]
    public void Should_average_KD_over_the_peers_in_the_direct_ML()
    {
        using var scope = NewDisposeScope();
        var student = RandomMap(14, 2, Small);
        var peers = new[] { RandomMap(15, 2, Small), RandomMap(16, 2, Small, scale: 4) };

        var ml = DetectionLoss.MlDirect(MapTensor(student, 2, Small), peers.Select(p => MapTensor(p, 2, Small)).ToList(), 3, Small).ToDouble();

        AssertClose(peers.Average(p => ReferenceKd(student, p, 2, Small, 3)), ml, 1e-10, "ml");
        Assert.Equal(0.0, DetectionLoss.MlDirect(MapTensor(student, 2, Small), [], 3, Small).ToDouble());
    }
}
