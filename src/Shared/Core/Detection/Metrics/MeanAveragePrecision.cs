namespace P2PDistill.Shared.Detection;

/// <summary>
/// COCO-style mean average precision (docs/design/detection.md §4), with pycocotools' semantics for boxes (iouType
/// "bbox", area range "all", maxDets 100, no crowd and no ignored boxes).
/// </summary>
/// <remarks>
/// For each class and IoU threshold t:
/// <list type="number">
/// <item>In each image, the class's detections by decreasing score (stable), the first <c>maxDetectionsPerImage</c>
/// kept; each in turn is matched to the not yet matched ground truth of its class and image with the highest IoU,
/// if that IoU is at least t (an IoU tie goes to the later ground truth, as in pycocotools); else it is a false positive.</item>
/// <item>All images' detections of the class by decreasing score, ties by image then rank in the image; cumulative
/// TP and FP give recall = TP / G and precision = TP / (TP + FP + ε), ε = 2⁻⁵² (numpy's spacing(1)).</item>
/// <item>Precision is made non-increasing from the right (each value becomes the largest at or after it); at each
/// recall point r of 0:0.01:1 the precision of the first rank whose recall is ≥ r, or 0 if none; AP is their mean.</item>
/// </list>
/// A class with no ground truth has no AP and is left out of every mean; one with ground truth but no detection has
/// AP 0. The thresholds are computed as numpy's <c>linspace</c> does, so that they equal pycocotools' to the bit.
/// </remarks>
public static class MeanAveragePrecision
{
    /// <summary>pycocotools' maxDets for AP: detections kept per image and class.</summary>
    public const int DefaultMaxDetectionsPerImage = 100;

    /// <summary>IoU 0.50:0.05:0.95 (ten thresholds), as <c>np.linspace(.5, .95, 10)</c>.</summary>
    public static IReadOnlyList<double> IouThresholds { get; } = Linspace(0.5, 0.95, 10);

    /// <summary>The 101 recall points 0:0.01:1, as <c>np.linspace(0, 1, 101)</c>.</summary>
    public static IReadOnlyList<double> RecallThresholds { get; } = Linspace(0, 1, 101);

    private static readonly double Epsilon = Math.Pow(2, -52);

    /// <summary>Scores the detections of a split against its ground truth.</summary>
    /// <param name="detections">Per image, its detections (any order; e.g. <see cref="DetectionDecoder"/>'s output).</param>
    /// <param name="groundTruths">Per image, its ground-truth boxes (none for a background image); same image count.</param>
    /// <param name="classNames">One name per class; their count is C.</param>
    /// <param name="maxDetectionsPerImage">Detections of a class kept per image, the highest scores (pycocotools' 100).</param>
    /// <exception cref="ArgumentException">Image counts that differ, no class, a class outside [0, C), a NaN or infinite
    /// score, or a box with a non-finite corner.</exception>
    public static DetectionMetrics Compute(
        IReadOnlyList<IReadOnlyList<Detection>> detections,
        IReadOnlyList<IReadOnlyList<Box>> groundTruths,
        IReadOnlyList<string> classNames,
        int maxDetectionsPerImage = DefaultMaxDetectionsPerImage)
    {
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(groundTruths);
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count == 0) throw new ArgumentException("At least one class name is needed.", nameof(classNames));
        if (detections.Count != groundTruths.Count)
            throw new ArgumentException(
                $"detections has {detections.Count} images but groundTruths has {groundTruths.Count}.", nameof(detections));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDetectionsPerImage, 1);
        int classes = classNames.Count, images = detections.Count;

        // Per class and image: the ground truths and the (capped, score-sorted) detections.
        var gtByClass = new List<Box>[classes, images];
        var dtByClass = new List<Detection>[classes, images];
        for (int k = 0; k < classes; k++)
            for (int i = 0; i < images; i++)
            {
                gtByClass[k, i] = [];
                dtByClass[k, i] = [];
            }
        int groundTruthCount = 0;
        for (int i = 0; i < images; i++)
        {
            var gts = groundTruths[i] ?? throw new ArgumentException($"groundTruths[{i}] is null.", nameof(groundTruths));
            for (int j = 0; j < gts.Count; j++)
            {
                CheckBox(gts[j], classes, $"groundTruths[{i}][{j}]", nameof(groundTruths));
                gtByClass[gts[j].Class, i].Add(gts[j]);
                groundTruthCount++;
            }
            var dts = detections[i] ?? throw new ArgumentException($"detections[{i}] is null.", nameof(detections));
            for (int j = 0; j < dts.Count; j++)
            {
                CheckBox(dts[j].Box, classes, $"detections[{i}][{j}]", nameof(detections));
                if (!float.IsFinite(dts[j].Score))
                    throw new ArgumentException($"detections[{i}][{j}] has score {dts[j].Score}: scores must be finite.", nameof(detections));
                dtByClass[dts[j].Box.Class, i].Add(dts[j]);
            }
        }

        var perClass = new ClassAveragePrecision[classes];
        int detectionCount = 0;
        for (int k = 0; k < classes; k++)
        {
            var result = EvaluateClass(k, gtByClass, dtByClass, images, maxDetectionsPerImage);
            perClass[k] = result with { Name = classNames[k] ?? $"class{k}" };
            detectionCount += result.Detections;
        }

        var scored = perClass.Where(c => c.GroundTruths > 0).ToArray();
        double? map50 = null, map = null;
        PrecisionRecallCurve? curve = null;
        if (scored.Length > 0)
        {
            map50 = scored.Average(c => c.Ap50!.Value);
            map = scored.Average(c => c.Ap50To95!.Value);
            var precision = new double[RecallThresholds.Count];
            for (int r = 0; r < precision.Length; r++) precision[r] = scored.Average(c => c.Curve50!.Precision[r]);
            curve = new PrecisionRecallCurve(RecallThresholds.ToArray(), precision);
        }
        return new DetectionMetrics(map50, map, perClass, detectionCount, groundTruthCount, images, curve);
    }

    private static ClassAveragePrecision EvaluateClass(
        int k, List<Box>[,] gtByClass, List<Detection>[,] dtByClass, int images, int maxDetectionsPerImage)
    {
        int thresholds = IouThresholds.Count;
        // All images' detections of the class in image order, each image's by decreasing score (stable), capped;
        // matched[t] tells whether it is a true positive at threshold t.
        var scores = new List<float>();
        var matched = new List<bool[]>();
        int groundTruths = 0;
        for (int i = 0; i < images; i++)
        {
            var gts = gtByClass[k, i];
            var all = dtByClass[k, i];
            groundTruths += gts.Count;
            var order = Nms.ByScore(all);
            int count = Math.Min(order.Length, maxDetectionsPerImage);
            var gtMatched = new bool[thresholds, gts.Count];
            for (int d = 0; d < count; d++)
            {
                var detection = all[order[d]];
                var ious = new double[gts.Count];
                for (int g = 0; g < gts.Count; g++) ious[g] = Nms.Iou(detection.Box, gts[g]);
                var isTrue = new bool[thresholds];
                for (int t = 0; t < thresholds; t++)
                {
                    double best = Math.Min(IouThresholds[t], 1 - 1e-10);
                    int match = -1;
                    for (int g = 0; g < gts.Count; g++)
                    {
                        if (gtMatched[t, g] || ious[g] < best) continue;
                        best = ious[g];
                        match = g;
                    }
                    if (match < 0) continue;
                    gtMatched[t, match] = true;
                    isTrue[t] = true;
                }
                scores.Add(detection.Score);
                matched.Add(isTrue);
            }
        }

        if (groundTruths == 0)
            return new ClassAveragePrecision(k, "", 0, scores.Count, null, null, null);

        // Over all images: by decreasing score, ties by image then rank (a stable sort of the image-ordered list).
        var ranked = Enumerable.Range(0, scores.Count).OrderByDescending(j => scores[j]).ToArray();
        var precisions = new double[thresholds][];
        for (int t = 0; t < thresholds; t++)
        {
            var recall = new double[ranked.Length];
            var precision = new double[ranked.Length];
            double tp = 0, fp = 0;
            for (int n = 0; n < ranked.Length; n++)
            {
                if (matched[ranked[n]][t]) tp++;
                else fp++;
                recall[n] = tp / groundTruths;
                precision[n] = tp / (fp + tp + Epsilon);
            }
            for (int n = ranked.Length - 1; n > 0; n--)
                if (precision[n] > precision[n - 1]) precision[n - 1] = precision[n];
            var sampled = new double[RecallThresholds.Count];
            for (int r = 0; r < sampled.Length; r++)
            {
                int first = LowerBound(recall, RecallThresholds[r]);
                sampled[r] = first < precision.Length ? precision[first] : 0;
            }
            precisions[t] = sampled;
        }

        double ap50 = precisions[0].Average();
        double ap = precisions.Average(p => p.Average());
        return new ClassAveragePrecision(k, "", groundTruths, scores.Count, ap50, ap,
            new PrecisionRecallCurve(RecallThresholds.ToArray(), precisions[0]));
    }

    /// <summary>The first index whose value is ≥ <paramref name="value"/> in an ascending array (numpy's searchsorted, side='left').</summary>
    private static int LowerBound(double[] ascending, double value)
    {
        int lo = 0, hi = ascending.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ascending[mid] < value) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private static void CheckBox(Box box, int classes, string where, string parameter)
    {
        if ((uint)box.Class >= (uint)classes)
            throw new ArgumentException($"{where} has class {box.Class}, outside [0, {classes}).", parameter);
        if (!float.IsFinite(box.X1) || !float.IsFinite(box.Y1) || !float.IsFinite(box.X2) || !float.IsFinite(box.Y2))
            throw new ArgumentException($"{where} has a non-finite corner: {box}.", parameter);
    }

    /// <summary>numpy's <c>linspace(start, stop, num)</c>: <c>start + i·((stop − start)/(num − 1))</c>, the last exactly <c>stop</c>.</summary>
    private static double[] Linspace(double start, double stop, int num)
    {
        var values = new double[num];
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) values[i] = i * step + start;
        values[num - 1] = stop;
        return values;
    }
}
