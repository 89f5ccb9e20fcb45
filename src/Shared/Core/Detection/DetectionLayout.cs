namespace P2PDistill.Shared.Detection;

/// <summary>
/// One ground-truth or predicted box: its class and corners in pixels of the network input (after letterboxing),
/// <c>0 &lt;= X1 &lt; X2 &lt;= width</c>, <c>0 &lt;= Y1 &lt; Y2 &lt;= height</c>. See docs/design/detection.md §2.
/// </summary>
public readonly record struct Box(int Class, float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;
    public float Height => Y2 - Y1;
    public float Area => Math.Max(0, Width) * Math.Max(0, Height);
}

/// <summary>A predicted box with its score (decoded from a dense map, after NMS).</summary>
public readonly record struct Detection(Box Box, float Score);

/// <summary>One feature level of the detector: its stride and its grid.</summary>
public readonly record struct DetectionLevel(int Stride, int Rows, int Columns, int FirstLocation)
{
    public int Locations => Rows * Columns;
}

/// <summary>
/// Where every value of a detector's dense map is (docs/design/detection.md §1): per image, <see cref="Locations"/> rows
/// of <see cref="RowWidth"/> = C + 4·B floats: C class logits (one sigmoid each), then the left, top, right and bottom
/// side distributions of B bins each (softmax, in units of the level's stride). Locations run level by level, row-major
/// inside a level.
/// </summary>
public sealed record DetectionLayout
{
    /// <summary>The strides of the two feature levels.</summary>
    public static IReadOnlyList<int> DefaultStrides { get; } = [8, 16];

    public const int DefaultBins = 8;

    public DetectionLayout(int classes, int height, int width, int bins = DefaultBins, IReadOnlyList<int>? strides = null)
    {
        strides ??= DefaultStrides;
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "a detector needs at least one class");
        if (bins < 2) throw new ArgumentOutOfRangeException(nameof(bins), bins, "a side distribution needs at least 2 bins");
        int coarsest = strides.Max();
        if (height <= 0 || width <= 0 || height % coarsest != 0 || width % coarsest != 0)
            throw new ArgumentException($"detector input {height}x{width}: each side must be a positive multiple of {coarsest} (the coarsest stride)");
        Classes = classes;
        Height = height;
        Width = width;
        Bins = bins;
        var levels = new List<DetectionLevel>();
        int first = 0;
        foreach (var s in strides)
        {
            var level = new DetectionLevel(s, height / s, width / s, first);
            levels.Add(level);
            first += level.Locations;
        }
        Levels = levels;
        Locations = first;
    }

    public int Classes { get; }
    public int Height { get; }
    public int Width { get; }
    public int Bins { get; }
    public IReadOnlyList<DetectionLevel> Levels { get; }

    /// <summary>L: locations per image over every level.</summary>
    public int Locations { get; }

    /// <summary>D = C + 4·B: floats per location.</summary>
    public int RowWidth => Classes + 4 * Bins;

    /// <summary>L·D: floats per image.</summary>
    public int ValuesPerImage => Locations * RowWidth;

    /// <summary>The largest side distance a level can express, in strides: B − 1.</summary>
    public int MaxDistance => Bins - 1;

    /// <summary>Column of side <paramref name="side"/> (0 left, 1 top, 2 right, 3 bottom), bin 0.</summary>
    public int SideColumn(int side) => Classes + side * Bins;

    /// <summary>The level of location <paramref name="location"/> and its point ((x + ½)·stride, (y + ½)·stride) in input pixels.</summary>
    public (DetectionLevel Level, float X, float Y) Point(int location)
    {
        if ((uint)location >= (uint)Locations) throw new ArgumentOutOfRangeException(nameof(location), location, $"a layout of {Locations} locations");
        foreach (var level in Levels)
        {
            int local = location - level.FirstLocation;
            if (local < level.Locations)
            {
                int row = local / level.Columns, column = local % level.Columns;
                return (level, (column + 0.5f) * level.Stride, (row + 0.5f) * level.Stride);
            }
        }
        throw new InvalidOperationException("unreachable: the location is in no level");
    }
}
