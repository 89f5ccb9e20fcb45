using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// An in-memory detection dataset: uint8 channel-first (C, H, W) images, as <see cref="IImageDataset"/>, each with zero or
/// more boxes in pixels of <see cref="Shape"/> (after letterboxing; docs/design/detection.md §2). An image without boxes is
/// a background image. Every implementation is immutable once built and safe to read from several threads.
/// </summary>
public interface IDetectionDataset : IImageDataset
{
    /// <summary>The boxes of sample <paramref name="index"/> (empty for a background image), inside 0..Width x 0..Height.</summary>
    IReadOnlyList<Box> Boxes(int index);

    /// <summary>A detection image's label is its box count: what the batch carries beside the boxes, and what the data set's fingerprint hashes.</summary>
    int IImageDataset.Label(int index) => Boxes(index).Count;
}

/// <summary>Train and test splits of one detection dataset, and its validation split when it has one.</summary>
public sealed record DetectionSplits(IDetectionDataset Train, IDetectionDataset Test)
{
    /// <summary>The validation split (null when the dataset has none): evaluated beside test, to pick the best epoch.</summary>
    public IDetectionDataset? Val { get; init; }

    /// <summary>Things the loader clipped, skipped or noticed but did not fail on; the caller logs them.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public ImageShape Shape => Train.Shape;
    public IReadOnlyList<string> ClassNames => Train.ClassNames;
    public int NumClasses => Train.ClassNames.Count;

    /// <summary>The same splits as the task-neutral <see cref="DatasetSplits"/> every runner takes.</summary>
    public DatasetSplits ToDatasetSplits() => new(Train, Test) { Val = Val, Warnings = Warnings };
}

/// <summary>
/// An immutable detection dataset held in memory: one uint8 array (C*H*W, channel-first) and one box array per sample.
/// The constructor checks every box: class in 0..C-1 and <c>0 &lt;= X1 &lt; X2 &lt;= W</c>, <c>0 &lt;= Y1 &lt; Y2 &lt;= H</c>.
/// </summary>
public sealed class InMemoryDetectionDataset : IDetectionDataset
{
    private readonly byte[][] _images;
    private readonly Box[][] _boxes;
    private readonly string[] _classNames;

    public InMemoryDetectionDataset(string name, ImageShape shape, IReadOnlyList<string> classNames, byte[][] images, Box[][] boxes)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(boxes);
        if (images.Length != boxes.Length)
            throw new ArgumentException($"{name}: {images.Length} images but {boxes.Length} box lists.");
        if (shape.Channels <= 0 || shape.Height <= 0 || shape.Width <= 0)
            throw new ArgumentException($"{name}: invalid image shape {shape}.");
        if (classNames.Count < 1)
            throw new ArgumentException($"{name}: a detection dataset needs at least one class.");
        for (int i = 0; i < images.Length; i++)
        {
            if (images[i] is null || images[i].Length != shape.Pixels)
                throw new ArgumentException($"{name}: sample {i} has {images[i]?.Length ?? 0} bytes, expected {shape.Pixels} ({shape}).");
            if (boxes[i] is null)
                throw new ArgumentException($"{name}: sample {i} has no box list (use an empty one for a background image).");
            foreach (var box in boxes[i])
                if (!IsValid(box, shape, classNames.Count))
                    throw new ArgumentException($"{name}: sample {i} has box {box}, outside the {shape.Width}x{shape.Height} image or classes 0..{classNames.Count - 1}.");
        }
        Name = name;
        Shape = shape;
        _classNames = classNames.ToArray();
        _images = images;
        _boxes = boxes;
    }

    /// <summary>Whether <paramref name="box"/> is a valid box of an image of <paramref name="shape"/> with <paramref name="classes"/> classes.</summary>
    public static bool IsValid(Box box, ImageShape shape, int classes) =>
        (uint)box.Class < (uint)classes
        && float.IsFinite(box.X1) && float.IsFinite(box.Y1) && float.IsFinite(box.X2) && float.IsFinite(box.Y2)
        && box.X1 >= 0 && box.X1 < box.X2 && box.X2 <= shape.Width
        && box.Y1 >= 0 && box.Y1 < box.Y2 && box.Y2 <= shape.Height;

    public string Name { get; }
    public int Count => _images.Length;
    public ImageShape Shape { get; }
    public IReadOnlyList<string> ClassNames => _classNames;

    public void CopyImage(int index, Span<byte> destination) => _images[index].CopyTo(destination);

    public IReadOnlyList<Box> Boxes(int index) => _boxes[index];

    /// <summary>The pixels of sample <paramref name="index"/>, without copying.</summary>
    public ReadOnlySpan<byte> Image(int index) => _images[index];
}

/// <summary>A read-only view of some samples of another detection dataset, in the given order.</summary>
public sealed class DetectionSubset(IDetectionDataset source, int[] indices, string? name = null)
    : SubsetDataset(source, indices, name), IDetectionDataset
{
    public IReadOnlyList<Box> Boxes(int index) => ((IDetectionDataset)Source).Boxes(SourceIndex(index));

    /// <summary>The first <paramref name="limit"/> samples of <paramref name="source"/>; the source itself when limit is 0 or not smaller.</summary>
    public static IDetectionDataset Take(IDetectionDataset source, int limit)
    {
        if (limit < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must be >= 0");
        if (limit == 0 || limit >= source.Count) return source;
        return new DetectionSubset(source, Enumerable.Range(0, limit).ToArray(), $"{source.Name}[:{limit}]");
    }
}
