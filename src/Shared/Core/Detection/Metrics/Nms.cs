namespace P2PDistill.Shared.Detection;

/// <summary>
/// Box overlap and class-wise greedy non-maximum suppression (docs/design/detection.md §4), the one implementation the
/// decoder and the metrics share.
/// </summary>
public static class Nms
{
    /// <summary>The IoU threshold of the decoder's NMS: a box is suppressed by a higher-scored box of its class when their IoU is above it.</summary>
    public const double DefaultIouThreshold = 0.6;

    /// <summary>
    /// Intersection over union of two boxes, in double precision, ignoring their classes: 0 when they do not overlap
    /// (touching edges included) or when either has no area. Computed as pycocotools does for boxes (no +1 pixel):
    /// intersection / (area a + area b − intersection).
    /// </summary>
    public static double Iou(Box a, Box b)
    {
        double width = Math.Min((double)a.X2, b.X2) - Math.Max((double)a.X1, b.X1);
        if (!(width > 0)) return 0;
        double height = Math.Min((double)a.Y2, b.Y2) - Math.Max((double)a.Y1, b.Y1);
        if (!(height > 0)) return 0;
        double intersection = width * height;
        double areaA = ((double)a.X2 - a.X1) * ((double)a.Y2 - a.Y1);
        double areaB = ((double)b.X2 - b.X1) * ((double)b.Y2 - b.Y1);
        double union = areaA + areaB - intersection;
        return union > 0 ? intersection / union : 0;
    }

    /// <summary>
    /// Class-wise greedy NMS: visits the detections by decreasing score (ties: lower index first), keeps one unless a
    /// kept detection of the same class overlaps it with IoU &gt; <paramref name="iouThreshold"/> (strictly, as
    /// torchvision's <c>batched_nms</c>), and stops after <paramref name="maxKept"/>.
    /// </summary>
    /// <returns>The indices kept, by decreasing score.</returns>
    /// <exception cref="ArgumentException">A score that is NaN.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A threshold outside [0, 1] or a negative <paramref name="maxKept"/>.</exception>
    public static int[] Keep(IReadOnlyList<Detection> detections, double iouThreshold = DefaultIouThreshold, int maxKept = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(detections);
        if (!(iouThreshold >= 0 && iouThreshold <= 1))
            throw new ArgumentOutOfRangeException(nameof(iouThreshold), iouThreshold, "the NMS IoU threshold must be in [0, 1]");
        ArgumentOutOfRangeException.ThrowIfNegative(maxKept);
        for (int i = 0; i < detections.Count; i++)
            if (float.IsNaN(detections[i].Score))
                throw new ArgumentException($"detections[{i}] has a NaN score: NMS cannot rank it.", nameof(detections));

        var order = ByScore(detections);
        var suppressed = new bool[detections.Count];
        var kept = new List<int>();
        for (int a = 0; a < order.Length && kept.Count < maxKept; a++)
        {
            int i = order[a];
            if (suppressed[i]) continue;
            kept.Add(i);
            var box = detections[i].Box;
            for (int b = a + 1; b < order.Length; b++)
            {
                int j = order[b];
                if (!suppressed[j] && detections[j].Box.Class == box.Class && Iou(box, detections[j].Box) > iouThreshold)
                    suppressed[j] = true;
            }
        }
        return kept.ToArray();
    }

    /// <summary>The detections <see cref="Keep"/> keeps, by decreasing score.</summary>
    public static List<Detection> Apply(IReadOnlyList<Detection> detections, double iouThreshold = DefaultIouThreshold, int maxKept = int.MaxValue)
    {
        var kept = Keep(detections, iouThreshold, maxKept);
        var result = new List<Detection>(kept.Length);
        foreach (var i in kept) result.Add(detections[i]);
        return result;
    }

    /// <summary>Indices by decreasing score, ties by increasing index (a stable order).</summary>
    internal static int[] ByScore(IReadOnlyList<Detection> detections)
    {
        var order = new int[detections.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (x, y) =>
        {
            int c = detections[y].Score.CompareTo(detections[x].Score);
            return c != 0 ? c : x.CompareTo(y);
        });
        return order;
    }
}
