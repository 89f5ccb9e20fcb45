using P2PDistill.Shared.Detection;
using TorchSharp;
using static P2PDistill.Tests.Detection.Losses.DetectionLossTesting;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Losses;

/// <summary>The task loss pieces (QFL, GIoU, DFL, the side decode) and the task loss itself on hand-computed cases.</summary>
[Trait("Category", "Unit")]
public sealed class GflLossSpecs
{
    private static readonly double Ln2 = Math.Log(2);

    [Fact]
    public void Should_compute_quality_focal_loss_by_hand()
    {
        using var scope = NewDisposeScope();
        // σ(0) = ½ against y = ½: no loss; against y = 0: ¼ · ln 2; σ(ln 3) = ¾ against y = 1: (¼)² · ln(4/3);
        // σ(0) against y = 0.2 : 0.3² · BCE = 0.09 · ln 2 (BCE at σ = ½ is ln 2 whatever y).
        var logits = tensor(new[] { 0, 0, Math.Log(3), 0 });
        var targets = tensor(new[] { 0.5, 0, 1, 0.2 });

        var loss = Values(DetectionLoss.QualityFocalLoss(logits, targets));

        AssertClose([0, 0.25 * Ln2, 0.0625 * Math.Log(4.0 / 3), 0.09 * Ln2], loss, 1e-12, 1e-15, "qfl");
    }

    [Fact]
    public void Should_give_GIoU_one_for_identical_boxes_and_the_enclosing_penalty_otherwise()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new double[,] { { 1, 2, 5, 7 }, { 0, 0, 1, 1 }, { 0, 0, 2, 2 }, { 0, 0, 4, 4 } });
        var b = tensor(new double[,] { { 1, 2, 5, 7 }, { 2, 0, 3, 1 }, { 1, 1, 3, 3 }, { 1, 1, 2, 2 } });

        // identical: 1. Disjoint unit squares 1 apart: IoU 0, enclosing 3, union 2 → −1/3.
        // Overlapping 2×2 squares: IoU 1/7, enclosing 9, union 7 → 1/7 − 2/9. Nested: the enclosing box is the union → IoU = 1/16.
        double[] expected = [1, -1.0 / 3, 1.0 / 7 - 2.0 / 9, 1.0 / 16];
        AssertClose(expected, Values(BoxGeometry.GIoU(a, b)), 1e-12, 1e-15, "giou");
        AssertClose(expected, Values(BoxGeometry.GIoU(b, a)), 1e-12, 1e-15, "giou symmetric");
        AssertClose(expected.Select(g => 1 - g).ToArray(), Values(DetectionLoss.GIoULoss(a, b)), 1e-12, 1e-15, "giou loss");
        AssertClose([1, 0, 1.0 / 7, 1.0 / 16], Values(BoxGeometry.IoU(a, b)), 1e-12, 1e-15, "iou");
    }

    [Fact]
    public void Should_compute_distribution_focal_loss_for_integer_and_fractional_targets()
    {
        using var scope = NewDisposeScope();
        // Uniform over 4 bins, d = 2: all weight on bin 2 → ln 4. softmax([0, ln 2, 0, 0]) = (1, 2, 1, 1)/5 and
        // d = 1.25: −(0.75 ln(2/5) + 0.25 ln(1/5)). d = 3 (the last bin) takes bins 2 and 3: −ln(1/5).
        var logits = tensor(new double[,] { { 0, 0, 0, 0 }, { 0, Ln2, 0, 0 }, { 0, Ln2, 0, 0 } });
        var d = tensor(new[] { 2, 1.25, 3 });

        var loss = Values(DetectionLoss.DistributionFocalLoss(logits, d));

        AssertClose([Math.Log(4), -(0.75 * Math.Log(0.4) + 0.25 * Math.Log(0.2)), Math.Log(5)], loss, 1e-12, 1e-15, "dfl");
    }

    [Fact]
    public void Should_decode_sides_as_the_expected_bin_times_the_stride_around_the_point()
    {
        using var scope = NewDisposeScope();
        // Tiny layout (16×16, strides 8 and 16): location 3 is (12, 12) at stride 8, location 4 is (8, 8) at stride 16.
        // Every side uniform except location 3's left side, all mass on bin 3 (3 strides = 24 px).
        var layout = Tiny;
        var map = zeros(1, layout.Locations, layout.RowWidth, dtype: ScalarType.Float64);
        map[0, 3, layout.SideColumn(0) + 3] = tensor(100.0);

        var boxes = Values(DetectionLoss.DecodeBoxes(map, layout));

        // uniform: 1.5 strides = 12 px at stride 8 and 24 px at stride 16.
        AssertClose([12 - 24, 12 - 12, 12 + 12, 12 + 12], boxes[12..16], 1e-12, 1e-12, "location 3");
        AssertClose([8 - 24, 8 - 24, 8 + 24, 8 + 24], boxes[16..20], 1e-12, 1e-12, "location 4");
        AssertClose([-8, -8, 16, 16], boxes[0..4], 1e-12, 1e-12, "location 0");
    }

    [Fact]
    public void Should_compute_the_task_loss_of_an_uninformed_map_by_hand()
    {
        using var scope = NewDisposeScope();
        // All logits 0 (σ = ½, every side uniform: 1.5 strides) against one class-1 box covering the tiny 16×16 image:
        // all 5 locations positive. Each level-0 box is 24×24 px around its point and holds the target: IoU = 256/576;
        // the level-1 box is 48×48 px: IoU = 256/2304. Each predicted box encloses the target, so GIoU = IoU.
        var layout = Tiny;
        var targets = DetectionAssigner.Assign(layout, [[new Box(1, 0, 0, 16, 16)]]);
        Assert.Equal(5, targets.Positives);
        var map = zeros(1, layout.Locations, layout.RowWidth, dtype: ScalarType.Float64);

        var loss = DetectionLoss.Task(map, targets.ToTensors(ScalarType.Float64), layout);

        double[] iou = [4.0 / 9, 4.0 / 9, 4.0 / 9, 4.0 / 9, 1.0 / 9];
        // QFL: 5 class-0 entries against 0 (¼ ln 2 each), 5 class-1 entries against the IoU ((y − ½)² ln 2); / 5 positives.
        double qfl = (5 * 0.25 * Ln2 + iou.Sum(y => (y - 0.5) * (y - 0.5) * Ln2)) / 5;
        // equal weights σ(0): plain means. DFL of a uniform side is ln 4 whatever the target.
        double giou = 2 * iou.Average(y => 1 - y);
        double dfl = 0.25 * Math.Log(4);
        AssertClose(qfl, loss.Qfl.ToDouble(), 1e-12, "qfl");
        AssertClose(giou, loss.GIoU.ToDouble(), 1e-12, "giou");
        AssertClose(dfl, loss.Dfl.ToDouble(), 1e-12, "dfl");
        AssertClose(qfl + giou + dfl, loss.Total.ToDouble(), 1e-12, "total");
    }

    [Fact]
    public void Should_weight_GIoU_and_DFL_by_the_score_of_the_target_class()
    {
        using var scope = NewDisposeScope();
        // Two positives of class 1 at scores σ(ln 3) = ¾ (location 0) and σ(−ln 3) = ¼ (location 3), the other class
        // high (σ(2)) at both, which must not matter. GIoU: 2 (¾ g₀ + ¼ g₃) / 1 with g the per-location GIoU losses.
        var layout = Tiny;
        var targets = DetectionAssigner.Assign(layout, [[new Box(1, 0, 0, 8, 8), new Box(1, 8, 8, 16, 16)]]);
        var map = zeros(1, layout.Locations, layout.RowWidth, dtype: ScalarType.Float64);
        map[0, 0, 1] = tensor(Math.Log(3));
        map[0, 3, 1] = tensor(-Math.Log(3));
        map[0, TensorIndex.Colon, 0] = tensor(2.0);

        var t = targets.ToTensors(ScalarType.Float64);
        var loss = DetectionLoss.Task(map, t, layout);

        // Both level-0 predicted boxes are 24×24 around their point holding an 8×8 target: IoU = GIoU = 64/576.
        // The level-1 point (8, 8) is on both boxes' edges: background.
        Assert.Equal(2, targets.Positives);
        double g = 1 - 64.0 / 576;
        AssertClose(2 * (0.75 * g + 0.25 * g), loss.GIoU.ToDouble(), 1e-12, "giou");
        // A check that fails if the weights were not those scores: make location 3's GIoU differ.
        map[0, 3, layout.SideColumn(2)] = tensor(3.0);
        var boxes = Values(DetectionLoss.DecodeBoxes(map, layout));
        var g3 = 1 - Values(BoxGeometry.GIoU(tensor(boxes[12..16]), tensor(new double[] { 8, 8, 16, 16 })))[0];
        AssertClose(2 * (0.75 * g + 0.25 * g3), DetectionLoss.Task(map, t, layout).GIoU.ToDouble(), 1e-12, "giou weighted");
    }

    [Fact]
    public void Should_reduce_to_QFL_against_zero_on_a_background_batch()
    {
        using var scope = NewDisposeScope();
        // No positives: GIoU and DFL are 0, QFL sums σ² · BCE(σ, 0) over every entry and divides by max(1, 0) = 1.
        var layout = Tiny;
        var targets = DetectionAssigner.Assign(layout, [[], []]);
        var map = zeros(2, layout.Locations, layout.RowWidth, dtype: ScalarType.Float64);

        var loss = DetectionLoss.Task(map, targets.ToTensors(ScalarType.Float64), layout);

        AssertClose(2 * 5 * 2 * 0.25 * Ln2, loss.Qfl.ToDouble(), 1e-12, "qfl");
        Assert.Equal(0.0, loss.GIoU.ToDouble());
        Assert.Equal(0.0, loss.Dfl.ToDouble());
        Assert.Equal(loss.Qfl.ToDouble(), loss.Total.ToDouble());
    }

    [Fact]
    public void Should_give_the_same_task_loss_in_float32_as_in_float64()
    {
        using var scope = NewDisposeScope();
        var layout = Small;
        var targets = DetectionAssigner.Assign(layout, [[new Box(0, 2, 3, 19, 25), new Box(1, 10, 6, 31, 17)], [new Box(1, 0, 0, 32, 32)]]);
        var map = RandomMap(11, 2, layout);

        var in64 = DetectionLoss.Task(MapTensor(map, 2, layout), targets.ToTensors(ScalarType.Float64), layout);
        var in32 = DetectionLoss.Task(MapTensor(map, 2, layout).to_type(ScalarType.Float32), targets.ToTensors(ScalarType.Float32), layout);

        Assert.Equal(ScalarType.Float32, in32.Total.dtype);
        AssertClose(in64.Total.ToDouble(), in32.Total.ToDouble(), 1e-5, "total");
    }

    [Fact]
    public void Should_refuse_a_map_that_does_not_fit_the_layout()
    {
        using var scope = NewDisposeScope();
        var targets = DetectionAssigner.Assign(Small, [[]]).ToTensors(ScalarType.Float64);
        var ex = Assert.Throws<ArgumentException>(() => DetectionLoss.Task(zeros(1, 20, 17, dtype: ScalarType.Float64), targets, Small));
        Assert.Contains("[N, 20, 18]", ex.Message);
    }
}
