namespace P2PDistill.Shared.Detection;

/// <summary>How a dense map becomes boxes (docs/design/detection.md §4); <see cref="Default"/> is the plan's setting.</summary>
public sealed record DetectionDecodeOptions
{
    /// <summary>The plan's setting: score &gt; 0.05, the best 1000 before NMS, NMS at IoU 0.6, at most 100 per image.</summary>
    public static DetectionDecodeOptions Default { get; } = new();

    /// <summary>A (location, class) pair is a candidate when its score is strictly above this.</summary>
    public float ScoreThreshold { get; init; } = 0.05f;

    /// <summary>The candidates kept before NMS, the highest scores over all levels and classes of the image.</summary>
    public int PreNmsTop { get; init; } = 1000;

    /// <summary>Class-wise NMS suppresses a box whose IoU with a higher-scored box of its class is above this.</summary>
    public double NmsIou { get; init; } = Nms.DefaultIouThreshold;

    /// <summary>At most this many boxes per image after NMS.</summary>
    public int MaxDetections { get; init; } = 100;

    internal void Validate()
    {
        if (!(ScoreThreshold >= 0 && ScoreThreshold < 1))
            throw new ArgumentOutOfRangeException(nameof(ScoreThreshold), ScoreThreshold, "the score threshold must be in [0, 1)");
        if (PreNmsTop < 1) throw new ArgumentOutOfRangeException(nameof(PreNmsTop), PreNmsTop, "at least one candidate must be kept before NMS");
        if (!(NmsIou >= 0 && NmsIou <= 1)) throw new ArgumentOutOfRangeException(nameof(NmsIou), NmsIou, "the NMS IoU threshold must be in [0, 1]");
        if (MaxDetections < 1) throw new ArgumentOutOfRangeException(nameof(MaxDetections), MaxDetections, "at least one detection per image must be allowed");
    }
}

/// <summary>
/// Decodes one image's dense map (docs/design/detection.md §1, §4) into scored boxes. Every (location, class) pair whose
/// score σ(class logit) is above <see cref="DetectionDecodeOptions.ScoreThreshold"/> is a candidate (one location can
/// give a box for several classes, as in GFL); the best <see cref="DetectionDecodeOptions.PreNmsTop"/> by score are kept
/// (ties: lower location, then lower class); a candidate's box is its location's point ∓ the expected side distances
/// <c>stride · Σ_i i·p_i</c> (left, top, right, bottom), clipped to the image; then class-wise NMS
/// (<see cref="Nms.Keep"/>) and at most <see cref="DetectionDecodeOptions.MaxDetections"/>, by decreasing score.
/// </summary>
public static class DetectionDecoder
{
    /// <summary>Decodes one image's map of raw logits (L×D): <see cref="DetectionEnsemble.ToProbabilities"/>, then <see cref="DecodeProbabilities"/>.</summary>
    /// <exception cref="ArgumentException">The map is not exactly one image of <paramref name="layout"/>.</exception>
    public static IReadOnlyList<Detection> Decode(ReadOnlySpan<float> logits, DetectionLayout layout, DetectionDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        CheckOneImage(logits.Length, layout, nameof(logits));
        return DecodeProbabilities(DetectionEnsemble.ToProbabilities(logits, layout), layout, options);
    }

    /// <summary>Decodes a map of raw logits of N images (N×L×D), one list per image.</summary>
    public static IReadOnlyList<IReadOnlyList<Detection>> DecodeBatch(ReadOnlySpan<float> logits, DetectionLayout layout, DetectionDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return DecodeProbabilitiesBatch(DetectionEnsemble.ToProbabilities(logits, layout), layout, options);
    }

    /// <summary>
    /// Decodes one image's map of probabilities (L×D): class columns are scores in [0, 1] (sigmoids or their mean),
    /// each side's B columns a distribution (a softmax or a mean of softmaxes; used as given, not renormalised).
    /// A NaN score is never above the threshold, so a NaN map decodes to no boxes.
    /// </summary>
    /// <exception cref="ArgumentException">The map is not exactly one image of <paramref name="layout"/>.</exception>
    public static IReadOnlyList<Detection> DecodeProbabilities(ReadOnlySpan<float> probabilities, DetectionLayout layout, DetectionDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        options ??= DetectionDecodeOptions.Default;
        options.Validate();
        CheckOneImage(probabilities.Length, layout, nameof(probabilities));

        var candidates = new List<(float Score, int Location, int Class)>();
        int width = layout.RowWidth;
        for (int location = 0; location < layout.Locations; location++)
            for (int c = 0; c < layout.Classes; c++)
            {
                float score = probabilities[location * width + c];
                if (score > options.ScoreThreshold) candidates.Add((score, location, c));
            }
        candidates.Sort((a, b) =>
        {
            int order = b.Score.CompareTo(a.Score);
            if (order == 0) order = a.Location.CompareTo(b.Location);
            return order != 0 ? order : a.Class.CompareTo(b.Class);
        });
        if (candidates.Count > options.PreNmsTop) candidates.RemoveRange(options.PreNmsTop, candidates.Count - options.PreNmsTop);

        var detections = new List<Detection>(candidates.Count);
        foreach (var (score, location, c) in candidates)
            detections.Add(new Detection(BoxAt(probabilities, layout, location, c), score));
        return Nms.Apply(detections, options.NmsIou, options.MaxDetections);
    }

    /// <summary>Decodes a map of probabilities of N images (N×L×D), one list per image (none for an empty map).</summary>
    /// <exception cref="ArgumentException">The length is not a whole number of images of <paramref name="layout"/>.</exception>
    public static IReadOnlyList<IReadOnlyList<Detection>> DecodeProbabilitiesBatch(ReadOnlySpan<float> probabilities, DetectionLayout layout, DetectionDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        DetectionEnsemble.CheckWholeImages(probabilities.Length, layout, nameof(probabilities));
        int perImage = layout.ValuesPerImage;
        var images = new List<IReadOnlyList<Detection>>(probabilities.Length / perImage);
        for (int start = 0; start < probabilities.Length; start += perImage)
            images.Add(DecodeProbabilities(probabilities.Slice(start, perImage), layout, options));
        return images;
    }

    /// <summary>
    /// The box of <paramref name="location"/> for class <paramref name="c"/>: the point ∓ the expected side distances
    /// (in pixels: stride · Σ_i i·p_i, computed in double precision), clipped to [0, W]×[0, H].
    /// </summary>
    public static Box BoxAt(ReadOnlySpan<float> probabilities, DetectionLayout layout, int location, int c)
    {
        ArgumentNullException.ThrowIfNull(layout);
        CheckOneImage(probabilities.Length, layout, nameof(probabilities));
        if ((uint)c >= (uint)layout.Classes) throw new ArgumentOutOfRangeException(nameof(c), c, $"a layout of {layout.Classes} classes");
        var (level, x, y) = layout.Point(location);
        int row = location * layout.RowWidth;
        double Distance(int side, ReadOnlySpan<float> p)
        {
            int start = row + layout.SideColumn(side);
            double expected = 0;
            for (int b = 1; b < layout.Bins; b++) expected += b * (double)p[start + b];
            return expected * level.Stride;
        }
        double left = Distance(0, probabilities), top = Distance(1, probabilities);
        double right = Distance(2, probabilities), bottom = Distance(3, probabilities);
        return new Box(
            c,
            (float)Math.Clamp(x - left, 0, layout.Width),
            (float)Math.Clamp(y - top, 0, layout.Height),
            (float)Math.Clamp(x + right, 0, layout.Width),
            (float)Math.Clamp(y + bottom, 0, layout.Height));
    }

    private static void CheckOneImage(int length, DetectionLayout layout, string parameter)
    {
        if (length != layout.ValuesPerImage)
            throw new ArgumentException(
                $"one image's dense map has {layout.ValuesPerImage} values ({layout.Locations} locations x {layout.RowWidth}) but {length} were given.",
                parameter);
    }
}
