using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// The per-location targets of a batch (docs/design/detection.md §3), as plain arrays ready to become tensors.
/// Location <c>l</c> of image <c>n</c> is row <c>n·L + l</c>.
/// </summary>
/// <param name="Images">N, the images of the batch.</param>
/// <param name="Locations">L, the locations per image (<see cref="DetectionLayout.Locations"/>).</param>
/// <param name="Classes">[N·L]: the target class of a positive location, −1 on background.</param>
/// <param name="Boxes">[N·L·4]: the target box (x1, y1, x2, y2) in input pixels; zeros on background.</param>
/// <param name="Distances">
/// [N·L·4]: the target's left, top, right and bottom distances from the location's point, in strides of the location's
/// level, clamped to [0, B − 1 − 0.01]; zeros on background.
/// </param>
/// <param name="Positives">How many locations of the batch are positive.</param>
public sealed record DetectionTargets(int Images, int Locations, int[] Classes, float[] Boxes, float[] Distances, int Positives)
{
    /// <summary>
    /// The targets as tensors: classes int64 [N, L], boxes and distances [N, L, 4] in <paramref name="dtype"/>.
    /// Must run inside a dispose scope.
    /// </summary>
    public DetectionTargetTensors ToTensors(ScalarType dtype, Device? device = null)
    {
        var classes = tensor(Array.ConvertAll(Classes, c => (long)c), [Images, Locations], device: device);
        var boxes = tensor(Boxes, [Images, Locations, 4], device: device).to_type(dtype);
        var distances = tensor(Distances, [Images, Locations, 4], device: device).to_type(dtype);
        return new DetectionTargetTensors(classes, boxes, distances, Positives);
    }
}

/// <summary>The targets of <see cref="DetectionTargets"/> as tensors: classes int64 [N, L], boxes and distances [N, L, 4].</summary>
public sealed record DetectionTargetTensors(Tensor Classes, Tensor Boxes, Tensor Distances, int Positives);

/// <summary>
/// Label assignment (docs/design/detection.md §3): CPU, plain C#, deterministic. A location is positive for a box when
/// its point lies strictly inside the box, within 2.5·stride of the box centre on both axes (inclusive), and the
/// box's largest side distance from the point is at most B − 1 strides of the location's level. Among several
/// candidate boxes the one of smallest area wins; equal areas go to the lowest box index.
/// </summary>
public static class DetectionAssigner
{
    /// <summary>The centre-sampling radius, in strides of the location's level.</summary>
    public const float CentreRadius = 2.5f;

    /// <summary>How far below B − 1 a side distance is clamped, so that its right bin ⌊d⌋ + 1 stays a bin.</summary>
    public const float DistanceMargin = 0.01f;

    /// <summary>
    /// The targets of a batch: <paramref name="boxes"/>[n] are the boxes of image n (possibly none), in pixels of the
    /// network input.
    /// </summary>
    public static DetectionTargets Assign(DetectionLayout layout, IReadOnlyList<IReadOnlyList<Box>> boxes)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(boxes);
        int images = boxes.Count, locations = layout.Locations;
        var classes = new int[images * locations];
        var targetBoxes = new float[images * locations * 4];
        var distances = new float[images * locations * 4];
        Array.Fill(classes, -1);
        float maxClamped = layout.MaxDistance - DistanceMargin;
        int positives = 0;

        for (int n = 0; n < images; n++)
        {
            var imageBoxes = boxes[n];
            for (int b = 0; b < imageBoxes.Count; b++)
            {
                var box = imageBoxes[b];
                if ((uint)box.Class >= (uint)layout.Classes)
                    throw new ArgumentException($"image {n}, box {b}: class {box.Class} is not one of the layout's {layout.Classes} classes", nameof(boxes));
            }

            for (int l = 0; l < locations; l++)
            {
                var (level, px, py) = layout.Point(l);
                int best = Candidate(imageBoxes, level.Stride, px, py, layout.MaxDistance);
                if (best < 0) continue;

                var box = imageBoxes[best];
                int row = n * locations + l;
                classes[row] = box.Class;
                targetBoxes[row * 4] = box.X1;
                targetBoxes[row * 4 + 1] = box.Y1;
                targetBoxes[row * 4 + 2] = box.X2;
                targetBoxes[row * 4 + 3] = box.Y2;
                float s = level.Stride;
                distances[row * 4] = Math.Clamp((px - box.X1) / s, 0, maxClamped);
                distances[row * 4 + 1] = Math.Clamp((py - box.Y1) / s, 0, maxClamped);
                distances[row * 4 + 2] = Math.Clamp((box.X2 - px) / s, 0, maxClamped);
                distances[row * 4 + 3] = Math.Clamp((box.Y2 - py) / s, 0, maxClamped);
                positives++;
            }
        }
        return new DetectionTargets(images, locations, classes, targetBoxes, distances, positives);
    }

    /// <summary>
    /// Whether the point (<paramref name="px"/>, <paramref name="py"/>) of a level of stride <paramref name="stride"/>
    /// may be assigned to <paramref name="box"/>: inside it, within the centre radius, and in the level's range.
    /// </summary>
    public static bool IsCandidate(Box box, int stride, float px, float py, int maxDistance)
    {
        if (!(px > box.X1 && px < box.X2 && py > box.Y1 && py < box.Y2)) return false;
        float radius = CentreRadius * stride;
        float cx = (box.X1 + box.X2) / 2, cy = (box.Y1 + box.Y2) / 2;
        if (Math.Abs(px - cx) > radius || Math.Abs(py - cy) > radius) return false;
        float largest = Math.Max(Math.Max(px - box.X1, py - box.Y1), Math.Max(box.X2 - px, box.Y2 - py));
        return largest / stride <= maxDistance;
    }

    /// <summary>The index of the box a point is assigned to, or −1: the candidate of smallest area, lowest index on ties.</summary>
    private static int Candidate(IReadOnlyList<Box> boxes, int stride, float px, float py, int maxDistance)
    {
        int best = -1;
        float bestArea = float.PositiveInfinity;
        for (int b = 0; b < boxes.Count; b++)
        {
            if (!IsCandidate(boxes[b], stride, px, py, maxDistance)) continue;
            float area = boxes[b].Area;
            if (area < bestArea)
            {
                best = b;
                bestArea = area;
            }
        }
        return best;
    }
}
