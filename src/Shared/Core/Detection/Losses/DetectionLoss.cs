using P2PDistill.Shared.Losses;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// The task loss of one detector (GFL, Li et al. 2020), weighted as it enters the total:
/// <see cref="Total"/> = <see cref="Qfl"/> + <see cref="GIoU"/> + <see cref="Dfl"/>, where the parts already carry
/// their weights (1, 2 and 0.25). <see cref="Total"/> carries the graph for backward.
/// </summary>
public sealed record DetectionTaskLoss(Tensor Total, Tensor Qfl, Tensor GIoU, Tensor Dfl);

/// <summary>
/// The detection losses of docs/design/detection.md §3 on dense maps [N, L, D] (<see cref="DetectionLayout"/>). Every
/// function works in the dtype of its inputs (float32 in training, float64 in the tests) and must run inside a dispose
/// scope.
/// </summary>
public static partial class DetectionLoss
{
    /// <summary>β of the quality focal loss.</summary>
    public const double QflBeta = 2.0;

    /// <summary>The weights of the three task terms (GFL's defaults).</summary>
    public const double QflWeight = 1.0, GIoUWeight = 2.0, DflWeight = 0.25;

    /// <summary>
    /// QFL, elementwise: <c>|y − σ(z)|^β · BCE(σ(z), y)</c> for logits <paramref name="logits"/> and soft targets
    /// <paramref name="targets"/> y ∈ [0, 1] of the same shape. The modulating factor is differentiated, as in GFL.
    /// </summary>
    public static Tensor QualityFocalLoss(Tensor logits, Tensor targets, double beta = QflBeta)
    {
        var bce = F.binary_cross_entropy_with_logits(logits, targets, reduction: nn.Reduction.None);
        return (targets - logits.sigmoid()).abs().pow(beta) * bce;
    }

    /// <summary><c>1 − GIoU(pred, target)</c> per box, boxes [..., 4] → [...].</summary>
    public static Tensor GIoULoss(Tensor predicted, Tensor target) => 1 - BoxGeometry.GIoU(predicted, target);

    /// <summary>
    /// DFL per side: for side logits [..., B] and target distances d [...] in bins (0 ≤ d ≤ B − 1), with l = ⌊d⌋ and
    /// r = l + 1: <c>−((r − d)·log p_l + (d − l)·log p_r)</c>, p = softmax. At d = B − 1, l is taken as B − 2.
    /// </summary>
    public static Tensor DistributionFocalLoss(Tensor sideLogits, Tensor distances)
    {
        long bins = sideLogits.shape[^1];
        var logP = F.log_softmax(sideLogits, -1);
        var d = distances.detach();
        var left = d.floor().clamp(0, bins - 2).to_type(ScalarType.Int64);
        var right = left + 1;
        var weightLeft = right.to_type(d.dtype) - d;
        var weightRight = d - left.to_type(d.dtype);
        var logPLeft = logP.gather(-1, left.unsqueeze(-1)).squeeze(-1);
        var logPRight = logP.gather(-1, right.unsqueeze(-1)).squeeze(-1);
        return -(weightLeft * logPLeft + weightRight * logPRight);
    }

    /// <summary>The expected distance of side distributions [..., B]: <c>Σ_i i·softmax(side)_i</c>, in strides → [...].</summary>
    public static Tensor ExpectedDistance(Tensor sideLogits)
    {
        long bins = sideLogits.shape[^1];
        var index = arange(bins, dtype: sideLogits.dtype, device: sideLogits.device);
        return (F.softmax(sideLogits, -1) * index).sum(-1);
    }

    /// <summary>The class logits of a map [N, L, D] → [N, L, C] (a view).</summary>
    public static Tensor ClassLogits(Tensor map, DetectionLayout layout)
    {
        CheckMap(map, layout);
        return map.narrow(2, 0, layout.Classes);
    }

    /// <summary>The side logits of a map [N, L, D] → [N, L, 4, B] (left, top, right, bottom).</summary>
    public static Tensor SideLogits(Tensor map, DetectionLayout layout)
    {
        CheckMap(map, layout);
        return map.narrow(2, layout.Classes, 4 * layout.Bins).reshape(map.shape[0], map.shape[1], 4, layout.Bins);
    }

    /// <summary>Every location's point (x, y) in pixels [L, 2] and its level's stride [L].</summary>
    public static (Tensor Points, Tensor Strides) LocationGrid(DetectionLayout layout, ScalarType dtype, Device? device = null)
    {
        var points = new double[layout.Locations * 2];
        var strides = new double[layout.Locations];
        for (int l = 0; l < layout.Locations; l++)
        {
            var (level, x, y) = layout.Point(l);
            points[2 * l] = x;
            points[2 * l + 1] = y;
            strides[l] = level.Stride;
        }
        return (tensor(points, [layout.Locations, 2], device: device).to_type(dtype),
                tensor(strides, [layout.Locations], device: device).to_type(dtype));
    }

    /// <summary>
    /// The predicted boxes of a map [N, L, D] → [N, L, 4] in input pixels: side k = stride · <see cref="ExpectedDistance"/>,
    /// box = point ∓ sides.
    /// </summary>
    public static Tensor DecodeBoxes(Tensor map, DetectionLayout layout)
    {
        var (points, strides) = LocationGrid(layout, map.dtype, map.device);
        return BoxGeometry.FromDistances(points, strides, ExpectedDistance(SideLogits(map, layout)));
    }

    /// <inheritdoc cref="Task(Tensor, Tensor, Tensor, Tensor, DetectionLayout)"/>
    public static DetectionTaskLoss Task(Tensor map, DetectionTargetTensors targets, DetectionLayout layout) =>
        Task(map, targets.Classes, targets.Boxes, targets.Distances, layout);

    /// <summary>
    /// The task loss of one detector (docs/design/detection.md §3) on its map [N, L, D] against the assigned targets:
    /// classes int64 [N, L] (−1 background), boxes [N, L, 4] in pixels and distances [N, L, 4] in strides.
    /// <list type="bullet">
    /// <item>QFL on every class logit, the target y = IoU(decoded predicted box, target box) (detached) for the target
    /// class of a positive location and 0 elsewhere; summed, divided by max(1, positives).</item>
    /// <item>GIoU loss (weight 2) and DFL averaged over the four sides (weight 0.25) at positive locations, each location
    /// weighted by its detached predicted score of its target class, divided by max(1e-6, Σ weights).</item>
    /// </list>
    /// </summary>
    public static DetectionTaskLoss Task(Tensor map, Tensor classes, Tensor boxes, Tensor distances, DetectionLayout layout)
    {
        CheckMap(map, layout);
        long n = map.shape[0], locations = layout.Locations, rows = n * locations;
        int c = layout.Classes;
        if (!classes.shape.SequenceEqual([n, locations]) || !boxes.shape.SequenceEqual([n, locations, 4]) || !distances.shape.SequenceEqual([n, locations, 4]))
            throw new ArgumentException($"targets of shapes [{string.Join(", ", classes.shape)}], [{string.Join(", ", boxes.shape)}], [{string.Join(", ", distances.shape)}] for a map of {n} images x {locations} locations");

        var logits = ClassLogits(map, layout).reshape(rows, c);
        var sides = SideLogits(map, layout).reshape(rows, 4, layout.Bins);
        var flatClasses = classes.reshape(rows).to_type(ScalarType.Int64);
        var positive = flatClasses.ge(0).nonzero().reshape(-1);
        long positives = positive.shape[0];

        var positiveClasses = flatClasses.index_select(0, positive);
        var positiveSides = sides.index_select(0, positive);
        var (points, strides) = LocationGrid(layout, map.dtype, map.device);
        var positiveLocations = positive.remainder(locations);
        var predictedBoxes = BoxGeometry.FromDistances(
            points.index_select(0, positiveLocations), strides.index_select(0, positiveLocations), ExpectedDistance(positiveSides));
        var targetBoxes = boxes.reshape(rows, 4).index_select(0, positive).to_type(map.dtype);
        var targetDistances = distances.reshape(rows, 4).index_select(0, positive).to_type(map.dtype);

        var quality = BoxGeometry.IoU(predictedBoxes.detach(), targetBoxes).detach();
        var scoreTargets = zeros([rows * c], dtype: map.dtype, device: map.device)
            .index_copy(0, positive * c + positiveClasses, quality)
            .reshape(rows, c);
        var qfl = QualityFocalLoss(logits, scoreTargets).sum() / Math.Max(1, positives) * QflWeight;

        var weights = logits.index_select(0, positive).detach().sigmoid()
            .gather(1, positiveClasses.unsqueeze(1)).squeeze(1);
        var weightSum = weights.sum().clamp_min(1e-6);
        var giou = (weights * GIoULoss(predictedBoxes, targetBoxes)).sum() / weightSum * GIoUWeight;
        var dfl = (weights * DistributionFocalLoss(positiveSides, targetDistances).mean([1])).sum() / weightSum * DflWeight;

        return new DetectionTaskLoss(qfl + giou + dfl, qfl, giou, dfl);
    }

    /// <summary>
    /// L = w_task·task + alpha·KD + beta·ML for one detector student, alpha and beta as the mode makes them
    /// (<see cref="DistillationSettings.WeightCe"/> weights the task loss). As in <see cref="DistillLoss.Student"/>, KD
    /// and ML are computed whenever their inputs are given, so they can be logged even when their weight is zero; only
    /// terms with a positive weight enter the total (and the gradient). Absent inputs report the term as 0.
    /// <see cref="LossTensors.Ce"/> is the task loss.
    /// </summary>
    public static LossTensors Student(
        Tensor studentMap, DetectionTargetTensors targets, DetectionLayout layout, DistillationSettings settings,
        Tensor? teacherMap, DetectionPeerTensors? peers)
    {
        var zero = zeros(Array.Empty<long>(), dtype: studentMap.dtype, device: studentMap.device);
        var task = Task(studentMap, targets, layout).Total;
        var total = task * settings.WeightCe;

        var kd = zero;
        if (teacherMap is not null)
        {
            kd = Kd(studentMap, teacherMap, settings.TemperatureKd, layout);
            if (settings.EffectiveAlpha > 0) total = total + kd * settings.EffectiveAlpha;
            else kd = kd.detach();
        }

        var ml = zero;
        if (peers is not null && peers.Peers > 0)
        {
            ml = Ml(studentMap, peers, settings.TemperatureMl, layout);
            if (settings.EffectiveBeta > 0) total = total + ml * settings.EffectiveBeta;
            else ml = ml.detach();
        }
        return new LossTensors(total, task, kd, ml);
    }

    /// <summary>The teacher trains online on the task loss only; <see cref="LossTensors.Ce"/> is that task loss.</summary>
    public static LossTensors Teacher(Tensor teacherMap, DetectionTargetTensors targets, DetectionLayout layout)
    {
        var task = Task(teacherMap, targets, layout).Total;
        var zero = zeros(Array.Empty<long>(), dtype: teacherMap.dtype, device: teacherMap.device);
        return new LossTensors(task, task, zero, zero);
    }

    private static void CheckMap(Tensor map, DetectionLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (map.dim() != 3 || map.shape[1] != layout.Locations || map.shape[2] != layout.RowWidth)
            throw new ArgumentException($"a dense map of shape [{string.Join(", ", map.shape)}], expected [N, {layout.Locations}, {layout.RowWidth}] (L locations x (C + 4·B))");
    }
}
