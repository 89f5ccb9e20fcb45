using System.Globalization;
using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// One detection batch as it crosses the wire: uint8 pixels (N*C*H*W, channel-first, as <see cref="ImageBatch"/>) and each
/// image's boxes in pixels of the image (empty for a background image). <see cref="BoxCodec"/> flattens the boxes.
/// </summary>
public sealed record DetectionBatch(ImageShape Shape, byte[] Pixels, Box[][] Boxes)
{
    public int Count => Boxes.Length;

    /// <summary>The pixels as an <see cref="ImageBatch"/> sharing the pixel array, each image's label its box count (as <see cref="IDetectionDataset"/> says), without the boxes.</summary>
    public ImageBatch ToImageBatch() => new(Shape, Pixels, Boxes.Select(b => b.Length).ToArray());
}

/// <summary>
/// Builds the uint8 detection batch for a list of sample indices: classification's <see cref="BatchBuilder"/> makes the
/// pixels, and each image's boxes are moved by the same <see cref="Augmentation.Choose"/> choice.
/// </summary>
public static class DetectionBatchBuilder
{
    /// <summary>
    /// The batch of <paramref name="indices"/> (in that order), image i and its boxes augmented with
    /// <see cref="DetectionAugmentation.Choose"/>(augment, seed, epoch, step, i). Pure: the same arguments give the same batch.
    /// </summary>
    public static DetectionBatch Build(IDetectionDataset dataset, ReadOnlySpan<int> indices, AugmentOptions augment, int seed, int epoch, int step)
    {
        ArgumentNullException.ThrowIfNull(augment);
        var pixels = BatchBuilder.Build(dataset, indices, augment, seed, epoch, step);
        var shape = dataset.Shape;
        var boxes = new Box[indices.Length][];
        for (int i = 0; i < indices.Length; i++)
            boxes[i] = DetectionAugmentation.Apply(dataset.Boxes(indices[i]), shape.Width, shape.Height,
                DetectionAugmentation.Choose(augment, seed, epoch, step, i));
        return new DetectionBatch(shape, pixels.Pixels, boxes);
    }

    /// <summary>The batch of <paramref name="indices"/> without augmentation (evaluation).</summary>
    public static DetectionBatch Build(IDetectionDataset dataset, ReadOnlySpan<int> indices) =>
        Build(dataset, indices, AugmentOptions.None, 0, 0, 0);
}

/// <summary>
/// The flat wire form of a batch's boxes (docs/design/detection.md §2): for each image in order, its box count, then
/// 5 floats per box: class, x1, y1, x2, y2. N images with B boxes in all take N + 5·B floats. Exact: classes and counts
/// are whole numbers far below 2^24, and the corners are the boxes' own floats.
/// </summary>
public static class BoxCodec
{
    public const int FloatsPerBox = 5;

    /// <summary>How many floats <see cref="Encode"/> writes for <paramref name="boxes"/>.</summary>
    public static int EncodedLength(IReadOnlyList<IReadOnlyList<Box>> boxes)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        long length = boxes.Count;
        foreach (var image in boxes) length += (long)FloatsPerBox * image.Count;
        return checked((int)length);
    }

    public static float[] Encode(IReadOnlyList<IReadOnlyList<Box>> boxes)
    {
        var encoded = new float[EncodedLength(boxes)];
        int o = 0;
        foreach (var image in boxes)
        {
            encoded[o++] = image.Count;
            foreach (var box in image)
            {
                encoded[o++] = box.Class;
                encoded[o++] = box.X1;
                encoded[o++] = box.Y1;
                encoded[o++] = box.X2;
                encoded[o++] = box.Y2;
            }
        }
        return encoded;
    }

    /// <summary>The boxes of every image in <paramref name="encoded"/>; a count or class that is not a whole number, or a truncated encoding, is a <see cref="FormatException"/>.</summary>
    public static Box[][] Decode(ReadOnlySpan<float> encoded) => Decode(encoded, expected: null);

    /// <summary>
    /// <see cref="Decode(ReadOnlySpan{float})"/>, checking that the encoding holds exactly <paramref name="images"/> images. An
    /// encoding of more images is refused as soon as its next image begins, so that a frame's boxes (a count of 0 is one float per
    /// image) cannot make the decode build more arrays than the batch has images (issue 16: allocation bounded by the bytes read).
    /// </summary>
    public static Box[][] Decode(ReadOnlySpan<float> encoded, int images) => Decode(encoded, expected: images);

    private static Box[][] Decode(ReadOnlySpan<float> encoded, int? expected)
    {
        var images = expected is { } n ? new List<Box[]>(n) : new List<Box[]>();
        int o = 0;
        while (o < encoded.Length)
        {
            if (images.Count == expected)
                throw new FormatException($"Box encoding: more than the {expected} image(s) expected: image {expected} begins at float {o} of {encoded.Length}.");
            int count = WholeNumber(encoded[o], "box count", images.Count);
            o++;
            if ((long)count * FloatsPerBox > encoded.Length - o)
                throw new FormatException($"Box encoding: image {images.Count} announces {count} box(es) but only {encoded.Length - o} float(s) follow ({FloatsPerBox} per box).");
            var boxes = count == 0 ? [] : new Box[count];
            for (int k = 0; k < count; k++, o += FloatsPerBox)
                boxes[k] = new Box(WholeNumber(encoded[o], "class", images.Count), encoded[o + 1], encoded[o + 2], encoded[o + 3], encoded[o + 4]);
            images.Add(boxes);
        }
        if (expected is { } wanted && images.Count != wanted)
            throw new FormatException($"Box encoding: {images.Count} image(s) encoded, {wanted} expected.");
        return images.ToArray();
    }

    private static int WholeNumber(float value, string what, int image)
    {
        if (!(value >= 0 && value <= (1 << 24) && value == MathF.Floor(value)))
            throw new FormatException($"Box encoding: image {image} has {what} {value.ToString(CultureInfo.InvariantCulture)}, not a whole number in 0..2^24.");
        return (int)value;
    }
}
