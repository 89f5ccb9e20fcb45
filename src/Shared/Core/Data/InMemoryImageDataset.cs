namespace P2PDistill.Shared.Data;

/// <summary>
/// An immutable dataset held in memory, one uint8 array (C*H*W, channel-first) per sample.
/// One array per sample keeps large image folders clear of the 2 GB single-array limit.
/// </summary>
public sealed class InMemoryImageDataset : IImageDataset
{
    private readonly byte[][] _images;
    private readonly int[] _labels;
    private readonly string[] _classNames;

    public InMemoryImageDataset(string name, ImageShape shape, IReadOnlyList<string> classNames, byte[][] images, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.Length != labels.Length)
            throw new ArgumentException($"{name}: {images.Length} images but {labels.Length} labels.");
        if (shape.Channels <= 0 || shape.Height <= 0 || shape.Width <= 0)
            throw new ArgumentException($"{name}: invalid image shape {shape}.");
        for (int i = 0; i < images.Length; i++)
        {
            if (images[i] is null || images[i].Length != shape.Pixels)
                throw new ArgumentException($"{name}: sample {i} has {images[i]?.Length ?? 0} bytes, expected {shape.Pixels} ({shape}).");
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new ArgumentException($"{name}: sample {i} has label {labels[i]}, outside 0..{classNames.Count - 1}.");
        }
        Name = name;
        Shape = shape;
        _classNames = classNames.ToArray();
        _images = images;
        _labels = labels;
    }

    /// <summary>Splits a flat buffer of <paramref name="labels"/>.Length consecutive images into a dataset.</summary>
    public static InMemoryImageDataset FromFlat(string name, ImageShape shape, IReadOnlyList<string> classNames, ReadOnlySpan<byte> pixels, int[] labels)
    {
        int size = shape.Pixels;
        if (pixels.Length != (long)size * labels.Length)
            throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not hold {labels.Length} images of {shape}.");
        var images = new byte[labels.Length][];
        for (int i = 0; i < images.Length; i++)
            images[i] = pixels.Slice(i * size, size).ToArray();
        return new InMemoryImageDataset(name, shape, classNames, images, labels);
    }

    public string Name { get; }
    public int Count => _labels.Length;
    public ImageShape Shape { get; }
    public IReadOnlyList<string> ClassNames => _classNames;

    public void CopyImage(int index, Span<byte> destination) => _images[index].CopyTo(destination);

    public int Label(int index) => _labels[index];

    /// <summary>The pixels of sample <paramref name="index"/>, without copying.</summary>
    public ReadOnlySpan<byte> Image(int index) => _images[index];
}

/// <summary>A read-only view of some samples of another dataset, in the given order.</summary>
public class SubsetDataset : IImageDataset
{
    private readonly IImageDataset _source;
    private readonly int[] _indices;

    /// <summary>The data set viewed.</summary>
    protected IImageDataset Source => _source;

    /// <summary>The index in <see cref="Source"/> of this view's sample <paramref name="index"/>.</summary>
    protected int SourceIndex(int index) => _indices[index];

    public SubsetDataset(IImageDataset source, int[] indices, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(indices);
        foreach (int i in indices)
            if ((uint)i >= (uint)source.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"index outside 0..{source.Count - 1} of {source.Name}");
        _source = source;
        _indices = indices;
        Name = name ?? source.Name;
    }

    public string Name { get; }
    public int Count => _indices.Length;
    public ImageShape Shape => _source.Shape;
    public IReadOnlyList<string> ClassNames => _source.ClassNames;
    public void CopyImage(int index, Span<byte> destination) => _source.CopyImage(_indices[index], destination);
    public int Label(int index) => _source.Label(_indices[index]);

    /// <summary>The first <paramref name="limit"/> samples of <paramref name="source"/>; the source itself when limit is 0 or not smaller.</summary>
    public static IImageDataset Take(IImageDataset source, int limit)
    {
        if (limit < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must be >= 0");
        if (limit == 0 || limit >= source.Count) return source;
        return new SubsetDataset(source, Enumerable.Range(0, limit).ToArray(), $"{source.Name}[:{limit}]");
    }
}
