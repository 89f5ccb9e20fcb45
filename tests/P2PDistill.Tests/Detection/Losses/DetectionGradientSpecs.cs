using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Losses;
using TorchSharp;
using static P2PDistill.Tests.Detection.Losses.DetectionLossTesting;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Losses;

/// <summary>
/// Every detection loss's autograd gradient against central finite differences in float64 (1e-6 relative). Where a loss
/// detaches something (the task loss's IoU targets and weights), the finite differences run on the same loss with those
/// quantities frozen at the base point, worked out here in plain double.
/// </summary>
[Trait("Category", "Unit")]
public sealed class DetectionGradientSpecs
{
    private static readonly DetectionLayout Layout = Tiny;
    private const int Batch = 2;
    private static readonly long[] MapShape = [Batch, Tiny.Locations, Tiny.RowWidth];

    /// <summary>Image 0: one box of each class; image 1: a large class-1 box and a small class-0 box inside it.</summary>
    private static readonly Box[][] Boxes = [[new Box(0, 1, 2, 11, 13), new Box(1, 9, 1, 16, 9)], [new Box(1, 0, 0, 16, 16), new Box(0, 2, 9, 10, 15)]];

    [Fact]
    public void Should_differentiate_quality_focal_loss()
    {
        var targets = new[] { 0, 0.3, 0.9, 0, 0, 1, 0.5, 0.1 };
        AssertGradient(z => DetectionLoss.QualityFocalLoss(z, tensor(targets, [2, 4])).sum(), [0.3, -1.2, 2.1, 0.7, -0.4, 1.5, -2.2, 0.05], [2, 4], "qfl");
    }

    [Fact]
    public void Should_differentiate_the_GIoU_loss()
    {
        // partial overlap, disjoint, predicted inside the target, target inside the predicted box.
        double[] target = [2, 1, 7, 8, 10, 10, 12, 13, 0, 0, 9, 9, 3.5, 3.2, 5.1, 6.3];
        AssertGradient(b => DetectionLoss.GIoULoss(b, tensor(target, [4, 4])).sum(), [1.1, 2.3, 6.2, 9.4, 1.3, 0.4, 4.1, 6.6, 2.2, 1.7, 7.9, 8.1, 1.2, 0.9, 8.8, 9.7], [4, 4], "giou");
    }

    [Fact]
    public void Should_differentiate_distribution_focal_loss()
    {
        var d = new[] { 0.3, 1.0, 2.5, 2.99 };
        AssertGradient(x => DetectionLoss.DistributionFocalLoss(x, tensor(d)).sum(), RandomMap(21, 1, Layout)[..16], [4, 4], "dfl");
    }

    [Fact]
    public void Should_differentiate_the_decoded_boxes()
    {
        var mix = RandomMap(22, Batch, Layout)[..(Batch * Layout.Locations * 4)];
        AssertGradient(m => (DetectionLoss.DecodeBoxes(m, Layout) * tensor(mix, [Batch, Layout.Locations, 4])).sum(), RandomMap(23, Batch, Layout), MapShape, "decode");
    }

    [Fact]
    public void Should_differentiate_the_task_loss_with_its_targets_and_weights_detached()
    {
        var targets = DetectionAssigner.Assign(Layout, Boxes);
        Assert.True(targets.Positives >= 4);
        var map = RandomMap(24, Batch, Layout);
        var (scoreTargets, weights) = FrozenTargetsAndWeights(map, targets);

        using (var scope = NewDisposeScope())
        {
            // The frozen form is the task loss at the base point.
            var t = targets.ToTensors(ScalarType.Float64);
            AssertClose(Frozen(MapTensor(map, Batch, Layout), targets, scoreTargets, weights).ToDouble(),
                        DetectionLoss.Task(MapTensor(map, Batch, Layout), t, Layout).Total.ToDouble(), 1e-12, "task");
        }

        var analytic = AutogradGradient(m =>
        {
            var t = targets.ToTensors(ScalarType.Float64);
            return DetectionLoss.Task(m, t, Layout).Total;
        }, map, MapShape);
        var numeric = NumericGradient(m => Frozen(m, targets, scoreTargets, weights), map, MapShape);
        AssertClose(numeric, analytic, 1e-6, 1e-8, "task");
    }

    [Fact]
    public void Should_differentiate_the_Bernoulli_and_softmax_KLs_in_the_student()
    {
        var teacher = RandomMap(25, 1, Layout)[..12];
        AssertGradient(s => DetectionLoss.BernoulliKl(tensor(teacher, [3, 4]), s, 2).sum(), RandomMap(26, 1, Layout)[..12], [3, 4], "bernoulli kl");
        AssertGradient(s => DetectionLoss.SoftmaxKl(tensor(teacher, [3, 4]), s, 2).sum(), RandomMap(27, 1, Layout)[..12], [3, 4], "softmax kl");
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(3.0)]
    public void Should_differentiate_KD_in_the_student(double temperature)
    {
        var teacher = RandomMap(28, Batch, Layout, scale: 3);
        AssertGradient(s => DetectionLoss.Kd(s, MapTensor(teacher, Batch, Layout), temperature, Layout), RandomMap(29, Batch, Layout), MapShape, "kd");
    }

    [Fact]
    public void Should_differentiate_ML_in_the_peer_sum_form()
    {
        var maps = Enumerable.Range(0, 3).Select(i => RandomMap(30 + i, Batch, Layout)).ToArray();
        var sums = DetectionPeerTargets.Build(maps, Batch, Layout, 2)[1];
        AssertGradient(s =>
        {
            var peers = sums.ToTensors(Batch, Layout, ScalarType.Float64);
            return DetectionLoss.Ml(s, peers, 2, Layout);
        }, maps[1], MapShape, "ml");
    }

    [Fact]
    public void Should_differentiate_the_distillation_terms_of_the_student_loss()
    {
        // With the task weight 0 the total is alpha·KD + beta·ML, with nothing detached in the student. One image.
        var targets = DetectionAssigner.Assign(Layout, Boxes[..1]);
        var maps = Enumerable.Range(0, 3).Select(i => RandomMap(40 + i, 1, Layout)).ToArray();
        var sums = DetectionPeerTargets.Build(maps, 1, Layout, 1.5)[0];
        var teacher = RandomMap(43, 1, Layout, scale: 3);
        var settings = new DistillationSettings(DistillMode.KdMl, WeightCe: 0, Alpha: 0.7, Beta: 1.3, TemperatureKd: 2, TemperatureMl: 1.5);
        AssertGradient(s => DetectionLoss.Student(
            s, targets.ToTensors(ScalarType.Float64), Layout, settings, MapTensor(teacher, 1, Layout), sums.ToTensors(1, Layout, ScalarType.Float64)).Total,
            maps[0], [1, Layout.Locations, Layout.RowWidth], "student");
    }

    /// <summary>
    /// The QFL score targets [N·L·C] (IoU of the decoded box with the target box at the target class) and the GIoU/DFL
    /// weights (σ of the target class logit) per positive row, from the base map in plain double.
    /// </summary>
    private static (double[] ScoreTargets, double[] Weights) FrozenTargetsAndWeights(double[] map, DetectionTargets targets)
    {
        int c = Layout.Classes, d = Layout.RowWidth, bins = Layout.Bins;
        var scores = new double[Batch * Layout.Locations * c];
        var weights = new List<double>();
        for (int row = 0; row < Batch * Layout.Locations; row++)
        {
            int cls = targets.Classes[row];
            if (cls < 0) continue;
            var (level, px, py) = Layout.Point(row % Layout.Locations);
            var side = new double[4];
            for (int k = 0; k < 4; k++)
            {
                var p = Softmax(map.AsSpan(row * d + c + k * bins, bins), 1);
                for (int b = 0; b < bins; b++) side[k] += b * p[b] * level.Stride;
            }
            double[] predicted = [px - side[0], py - side[1], px + side[2], py + side[3]];
            var target = targets.Boxes.AsSpan(row * 4, 4);
            double iw = Math.Max(0, Math.Min(predicted[2], target[2]) - Math.Max(predicted[0], target[0]));
            double ih = Math.Max(0, Math.Min(predicted[3], target[3]) - Math.Max(predicted[1], target[1]));
            double intersection = iw * ih;
            double union = (predicted[2] - predicted[0]) * (predicted[3] - predicted[1]) + (target[2] - target[0]) * (target[3] - target[1]) - intersection;
            scores[row * c + cls] = intersection / union;
            weights.Add(Sigmoid(map[row * d + cls]));
        }
        return (scores, weights.ToArray());
    }

    /// <summary>The task loss with its detached quantities given as constants, from the public pieces.</summary>
    private static Tensor Frozen(Tensor map, DetectionTargets targets, double[] scoreTargets, double[] weights)
    {
        int rows = Batch * Layout.Locations;
        var positive = tensor(Enumerable.Range(0, rows).Where(r => targets.Classes[r] >= 0).Select(r => (long)r).ToArray());
        var t = targets.ToTensors(ScalarType.Float64);
        var w = tensor(weights);

        var logits = DetectionLoss.ClassLogits(map, Layout).reshape(rows, Layout.Classes);
        var qfl = DetectionLoss.QualityFocalLoss(logits, tensor(scoreTargets, [rows, Layout.Classes])).sum() / targets.Positives;
        var boxes = DetectionLoss.DecodeBoxes(map, Layout).reshape(rows, 4).index_select(0, positive);
        var giou = (w * DetectionLoss.GIoULoss(boxes, t.Boxes.reshape(rows, 4).index_select(0, positive))).sum() / w.sum();
        var sides = DetectionLoss.SideLogits(map, Layout).reshape(rows, 4, Layout.Bins).index_select(0, positive);
        var dfl = (w * DetectionLoss.DistributionFocalLoss(sides, t.Distances.reshape(rows, 4).index_select(0, positive)).mean([1])).sum() / w.sum();
        return qfl + 2 * giou + 0.25 * dfl;
    }
}
