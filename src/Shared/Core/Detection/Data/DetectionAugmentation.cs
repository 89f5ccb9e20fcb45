using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// Classification's augmentations (<see cref="Augmentation"/>: random crop of the zero-padded image and horizontal flip,
/// one <see cref="AugmentChoice"/> per image drawn from (seed, epoch, step, position in the batch)) with the boxes moved
/// along (docs/design/detection.md §2). The pixels are exactly classification's; a box (x1, y1, x2, y2) of a W×H image
/// becomes (x1 − ShiftX, y1 − ShiftY, x2 − ShiftX, y2 − ShiftY), mirrored to (W − x2, ·, W − x1, ·) when flipped, then
/// clipped to the image. A box the crop cuts to less than <see cref="MinSide"/> pixels on a side (or out of the image) is
/// dropped; a box that was that small before and is not cut is kept.
/// </summary>
public static class DetectionAugmentation
{
    /// <summary>The smallest side, in pixels, a box cut by a crop keeps.</summary>
    public const float MinSide = 2f;

    /// <summary>The choice for the image at <paramref name="position"/> of the batch: <see cref="Augmentation.Choose"/>.</summary>
    public static AugmentChoice Choose(AugmentOptions options, int seed, int epoch, int step, int position) =>
        Augmentation.Choose(options, seed, epoch, step, position);

    /// <summary>The boxes of a <paramref name="width"/>×<paramref name="height"/> image after <paramref name="choice"/>, in order, cut ones dropped.</summary>
    public static Box[] Apply(IReadOnlyList<Box> boxes, int width, int height, AugmentChoice choice)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        var result = new List<Box>(boxes.Count);
        foreach (var box in boxes)
        {
            if (choice.IsIdentity)
            {
                result.Add(box);
                continue;
            }
            float x1 = box.X1 - choice.ShiftX, x2 = box.X2 - choice.ShiftX;
            float y1 = box.Y1 - choice.ShiftY, y2 = box.Y2 - choice.ShiftY;
            if (choice.Flip) (x1, x2) = (width - x2, width - x1);
            float cx1 = Math.Max(0, x1), cy1 = Math.Max(0, y1), cx2 = Math.Min(width, x2), cy2 = Math.Min(height, y2);
            bool cutX = cx1 != x1 || cx2 != x2, cutY = cy1 != y1 || cy2 != y2;
            if (!(cx2 > cx1 && cy2 > cy1)) continue;
            if ((cutX && cx2 - cx1 < MinSide) || (cutY && cy2 - cy1 < MinSide)) continue;
            result.Add(box with { X1 = cx1, Y1 = cy1, X2 = cx2, Y2 = cy2 });
        }
        return result.ToArray();
    }

    /// <summary>Writes the augmented image (<see cref="Augmentation.Apply(ReadOnlySpan{byte}, Span{byte}, ImageShape, AugmentChoice)"/>) and returns its moved boxes.</summary>
    public static Box[] Apply(ReadOnlySpan<byte> source, Span<byte> destination, IReadOnlyList<Box> boxes, ImageShape shape, AugmentChoice choice)
    {
        Augmentation.Apply(source, destination, shape, choice);
        return Apply(boxes, shape.Width, shape.Height, choice);
    }

    /// <summary>A new batch with every image and its boxes augmented by its (seed, epoch, step, position) choice.</summary>
    public static DetectionBatch Apply(DetectionBatch batch, AugmentOptions options, int seed, int epoch, int step)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(options);
        if (options.IsNone) return batch;
        int size = batch.Shape.Pixels;
        var pixels = new byte[batch.Pixels.Length];
        var boxes = new Box[batch.Count][];
        for (int i = 0; i < batch.Count; i++)
            boxes[i] = Apply(batch.Pixels.AsSpan(i * size, size), pixels.AsSpan(i * size, size), batch.Boxes[i], batch.Shape,
                Choose(options, seed, epoch, step, i));
        return new DetectionBatch(batch.Shape, pixels, boxes);
    }
}
