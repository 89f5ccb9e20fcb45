using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Detection;

/// <summary>What happened to a labelled box when it was checked against its image (docs/design/detection.md §2).</summary>
internal enum ClipOutcome
{
    /// <summary>Inside the image (or out by no more than the rounding tolerance, and clipped silently).</summary>
    Inside,
    /// <summary>Partly outside: clipped to the image, and a warning.</summary>
    Clipped,
    /// <summary>Entirely outside the image (or only touching its border): an error.</summary>
    Outside,
    /// <summary>Zero or negative width or height: an error.</summary>
    Degenerate,
}

/// <summary>What the detection loaders share: option checks, box clipping, the seeded split and the warning list.</summary>
internal static class DetectionLoading
{
    public static void CheckOptions(string what, string path, int size, int channels)
    {
        if (size is < 16 or > 4096 || size % 16 != 0)
            throw new DatasetException($"{what} '{path}': image size {size} must be a multiple of 16 (the detector's coarsest stride) in 16..4096; set Data:ImageSize (e.g. 64 or 96).") { Path = path };
        if (channels is not (1 or 3))
            throw new DatasetException($"{what} '{path}': {channels} channels requested; Data:Channels must be 1 (grayscale) or 3 (RGB).") { Path = path };
    }

    /// <summary>
    /// Checks the box (x1, y1, x2, y2) against the image 0..width × 0..height and clips it. Degenerate: not x1 &lt; x2 and
    /// y1 &lt; y2. Outside: no area left inside the image. Clipped: a corner lies outside by more than
    /// <paramref name="tolerance"/>. Otherwise Inside (clipped silently: rounding in the label file).
    /// </summary>
    public static ClipOutcome Clip(ref double x1, ref double y1, ref double x2, ref double y2, double width, double height, double tolerance)
    {
        if (!(x1 < x2 && y1 < y2)) return ClipOutcome.Degenerate;
        double cx1 = Math.Max(0, x1), cy1 = Math.Max(0, y1), cx2 = Math.Min(width, x2), cy2 = Math.Min(height, y2);
        if (!(cx1 < cx2 && cy1 < cy2)) return ClipOutcome.Outside;
        bool beyond = x1 < -tolerance || y1 < -tolerance || x2 > width + tolerance || y2 > height + tolerance;
        (x1, y1, x2, y2) = (cx1, cy1, cx2, cy2);
        return beyond ? ClipOutcome.Clipped : ClipOutcome.Inside;
    }

    /// <summary>
    /// The seeded train/test split of <paramref name="count"/> samples: 0..count-1 shuffled by <see cref="SplitMix64"/>
    /// seeded from (seed, <paramref name="domain"/>), the first round(count·testFraction) (at least 1, at most count − 1)
    /// to test; each part in ascending order.
    /// </summary>
    public static (int[] Train, int[] Test) SeededSplit(int count, double testFraction, int seed, string domain, string what, string path)
    {
        if (!(testFraction > 0 && testFraction < 1))
            throw new DatasetException($"{what} '{path}': Data:TestFraction is {testFraction}; it must lie strictly between 0 and 1 (or provide train/ and test/ splits).") { Path = path };
        if (count < 2)
            throw new DatasetException($"{what} '{path}' holds {count} image(s); a train/test split needs at least 2. Add images, or provide train/ and test/ splits.") { Path = path };
        var order = Enumerable.Range(0, count).ToArray();
        new SplitMix64(DeterministicHash.Hash(DeterministicHash.SplitDomain, seed, DeterministicHash.Hash(domain))).Shuffle(order);
        int nTest = Math.Clamp((int)Math.Round(count * testFraction, MidpointRounding.AwayFromZero), 1, count - 1);
        return (order.Skip(nTest).Order().ToArray(), order.Take(nTest).Order().ToArray());
    }
}

/// <summary>Non-fatal notes of a loader, grouped by kind: the first few of each kind in full, then how many more.</summary>
internal sealed class LoaderNotes
{
    private const int ShownPerKind = 5;
    private readonly List<string> _order = [];
    private readonly Dictionary<string, (List<string> Shown, int Total)> _kinds = new(StringComparer.Ordinal);

    public void Add(string kind, string message)
    {
        if (!_kinds.TryGetValue(kind, out var entry))
        {
            entry = ([], 0);
            _order.Add(kind);
        }
        if (entry.Shown.Count < ShownPerKind) entry.Shown.Add(message);
        _kinds[kind] = (entry.Shown, entry.Total + 1);
    }

    public List<string> ToList()
    {
        var result = new List<string>();
        foreach (var kind in _order)
        {
            var (shown, total) = _kinds[kind];
            result.AddRange(shown);
            if (total > shown.Count) result.Add($"... and {total - shown.Count} more: {kind}.");
        }
        return result;
    }
}
