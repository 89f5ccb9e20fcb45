namespace P2PDistill.Shared.Data;

/// <summary>
/// The random choices for one image: shift the content by (ShiftX, ShiftY), filling uncovered pixels with 0 (a random crop
/// of the zero-padded image, ShiftX = cropLeft - padding), then mirror left-right if Flip.
/// </summary>
public readonly record struct AugmentChoice(int ShiftX, int ShiftY, bool Flip)
{
    public static AugmentChoice None => default;
    public bool IsIdentity => ShiftX == 0 && ShiftY == 0 && !Flip;
}

/// <summary>
/// Random crop with zero padding and horizontal flip on uint8 channel-first images. Each image's choice is a pure function
/// of (seed, epoch, step, position in the batch), drawn from <see cref="SplitMix64"/>, so every node builds the same batch.
/// </summary>
public static class Augmentation
{
    /// <summary>
    /// Output pixel (y, x) = input (y + ShiftY, x' + ShiftX) with x' = Width-1-x when flipped (else x), or 0 outside the image.
    /// Shifts are uniform in [-CropPadding, CropPadding] each; Flip is a fair coin when HorizontalFlip.
    /// </summary>
    public static AugmentChoice Choose(AugmentOptions options, int seed, int epoch, int step, int position)
    {
        if (options.IsNone) return AugmentChoice.None;
        var rng = new SplitMix64(DeterministicHash.Hash(DeterministicHash.AugmentDomain, seed, epoch, step, position));
        int p = options.CropPadding;
        int shiftX = p > 0 ? rng.NextInt(-p, p) : 0;
        int shiftY = p > 0 ? rng.NextInt(-p, p) : 0;
        bool flip = options.HorizontalFlip && rng.NextBool();
        return new AugmentChoice(shiftX, shiftY, flip);
    }

    /// <summary>Writes the augmented <paramref name="source"/> to <paramref name="destination"/> (distinct buffers, Pixels bytes each).</summary>
    public static void Apply(ReadOnlySpan<byte> source, Span<byte> destination, ImageShape shape, AugmentChoice choice)
    {
        int h = shape.Height, w = shape.Width, plane = h * w;
        if (source.Length < shape.Pixels || destination.Length < shape.Pixels)
            throw new ArgumentException($"Image buffers must hold {shape.Pixels} bytes ({shape}).");
        if (choice.IsIdentity)
        {
            source[..shape.Pixels].CopyTo(destination);
            return;
        }
        for (int c = 0; c < shape.Channels; c++)
        {
            var src = source.Slice(c * plane, plane);
            var dst = destination.Slice(c * plane, plane);
            for (int y = 0; y < h; y++)
            {
                var dstRow = dst.Slice(y * w, w);
                int sy = y + choice.ShiftY;
                if ((uint)sy >= (uint)h)
                {
                    dstRow.Clear();
                    continue;
                }
                var srcRow = src.Slice(sy * w, w);
                for (int x = 0; x < w; x++)
                {
                    int sx = (choice.Flip ? w - 1 - x : x) + choice.ShiftX;
                    dstRow[x] = (uint)sx < (uint)w ? srcRow[sx] : (byte)0;
                }
            }
        }
    }

    /// <summary>A new batch with every image augmented by its (seed, epoch, step, position) choice.</summary>
    public static ImageBatch Apply(ImageBatch batch, AugmentOptions options, int seed, int epoch, int step)
    {
        if (options.IsNone) return batch;
        int size = batch.Shape.Pixels;
        var output = new byte[batch.Pixels.Length];
        for (int i = 0; i < batch.Count; i++)
            Apply(batch.Pixels.AsSpan(i * size, size), output.AsSpan(i * size, size), batch.Shape,
                Choose(options, seed, epoch, step, i));
        return new ImageBatch(batch.Shape, output, (int[])batch.Labels.Clone());
    }
}
