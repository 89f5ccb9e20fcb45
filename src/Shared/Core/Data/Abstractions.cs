namespace P2PDistill.Shared.Data;

/// <summary>
/// An in-memory image dataset held as uint8 pixels, channel-first (C, H, W) per sample.
/// Every implementation is immutable once built and safe to read from several threads.
/// </summary>
public interface IImageDataset
{
    /// <summary>A short name for logs ("fashion-mnist/train", "folder:/data/msi/test", ...).</summary>
    string Name { get; }
    int Count { get; }
    ImageShape Shape { get; }
    IReadOnlyList<string> ClassNames { get; }
    int NumClasses => ClassNames.Count;

    /// <summary>Copies sample <paramref name="index"/>'s pixels (C*H*W bytes, channel-first) into <paramref name="destination"/>.</summary>
    void CopyImage(int index, Span<byte> destination);

    int Label(int index);
}

/// <summary>Channel-first image shape, written CxHxW (1x28x28) in flags and files.</summary>
[System.ComponentModel.TypeConverter(typeof(Settings.ImageShapeConverter))]
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>The most values one image may hold (64 Mi: 3x4096x4096 and more; an int product never wraps below it).</summary>
    public const int MaxPixels = 64 << 20;

    /// <summary>C*H*W; throws <see cref="OverflowException"/> rather than wrap (1x65536x65536 is not 0).</summary>
    public int Pixels => checked(Channels * Height * Width);
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}

/// <summary>Train and test splits of one dataset, and its validation split when it has one (MedMNIST).</summary>
public sealed record DatasetSplits(IImageDataset Train, IImageDataset Test)
{
    /// <summary>The validation split (null when the dataset has none): evaluated beside test, to pick the best epoch.</summary>
    public IImageDataset? Val { get; init; }

    /// <summary>Things the loader skipped or noticed but did not fail on (ignored files, ...); the caller logs them.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public ImageShape Shape => Train.Shape;
    public IReadOnlyList<string> ClassNames => Train.ClassNames;
    public int NumClasses => Train.ClassNames.Count;
}

/// <summary>Per-channel normalisation applied when a uint8 batch becomes a float tensor: (x/255 - mean) / std.</summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    public static Normalization FashionMnist { get; } = new([0.2860f], [0.3530f]);
    public static Normalization Mnist { get; } = new([0.1307f], [0.3081f]);
    public static Normalization ImageNet { get; } = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);
    public static Normalization Identity(int channels) => new(Enumerable.Repeat(0f, channels).ToArray(), Enumerable.Repeat(1f, channels).ToArray());
}

/// <summary>Augmentation settings; every random choice is a function of (seed, epoch, step, sample position).</summary>
public sealed record AugmentOptions(int CropPadding = 0, bool HorizontalFlip = false)
{
    public static AugmentOptions None { get; } = new();
    public bool IsNone => CropPadding == 0 && !HorizontalFlip;
}

/// <summary>
/// One batch as it crosses the wire: uint8 pixels (N*C*H*W, channel-first) and labels.
/// Turned into a float tensor with <see cref="BatchTensors"/>.
/// </summary>
public sealed record ImageBatch(ImageShape Shape, byte[] Pixels, int[] Labels)
{
    public int Count => Labels.Length;

    /// <summary>Detection: every image's boxes in <c>BoxCodec</c>'s flat form (per image a count, then class, x1, y1, x2, y2 per box); null for classification.</summary>
    public float[]? Boxes { get; init; }
}
