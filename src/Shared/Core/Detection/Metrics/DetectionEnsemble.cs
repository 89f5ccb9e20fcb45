namespace P2PDistill.Shared.Detection;

/// <summary>
/// Turns detectors' dense maps of logits into maps of probabilities and averages several of them
/// (docs/design/detection.md §4): the student ensemble averages distributions — class sigmoids and side softmaxes —
/// never logits, then decodes the mean with <see cref="DetectionDecoder"/>. A single model goes through the same
/// path (<see cref="ToProbabilities"/>, then <see cref="DetectionDecoder.DecodeProbabilities"/>).
/// </summary>
public static class DetectionEnsemble
{
    /// <summary>
    /// The probability map of a logit map of N whole images (row-major N×L×D, the layout of
    /// <paramref name="layout"/>): per location, σ of each class logit and the softmax of each side's B bins,
    /// computed in double precision (the softmax shifted by its largest logit).
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a whole number of images of <paramref name="layout"/>.</exception>
    public static float[] ToProbabilities(ReadOnlySpan<float> logits, DetectionLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        CheckWholeImages(logits.Length, layout, nameof(logits));
        var probabilities = new float[logits.Length];
        var sides = new double[layout.Bins];
        for (int row = 0; row < logits.Length; row += layout.RowWidth)
        {
            for (int c = 0; c < layout.Classes; c++) probabilities[row + c] = (float)Sigmoid(logits[row + c]);
            for (int side = 0; side < 4; side++)
            {
                int start = row + layout.SideColumn(side);
                double max = double.NegativeInfinity;
                for (int b = 0; b < layout.Bins; b++) max = Math.Max(max, logits[start + b]);
                double sum = 0;
                for (int b = 0; b < layout.Bins; b++) sum += sides[b] = Math.Exp(logits[start + b] - max);
                for (int b = 0; b < layout.Bins; b++) probabilities[start + b] = (float)(sides[b] / sum);
            }
        }
        return probabilities;
    }

    /// <summary>
    /// The element-wise mean of the models' probability maps (<see cref="ToProbabilities"/> of each logit map; all of
    /// the same length, N whole images), summed in double precision. One model gives its own probability map, and
    /// identical maps give that map exactly.
    /// </summary>
    /// <exception cref="ArgumentException">No models, a null map, maps of different lengths, or not whole images.</exception>
    public static float[] MeanProbabilities(IReadOnlyList<float[]> perModelLogits, DetectionLayout layout)
    {
        ArgumentNullException.ThrowIfNull(perModelLogits);
        ArgumentNullException.ThrowIfNull(layout);
        if (perModelLogits.Count == 0)
            throw new ArgumentException("At least one model's dense map is needed.", nameof(perModelLogits));
        int length = perModelLogits[0]?.Length
            ?? throw new ArgumentException("perModelLogits[0] is null.", nameof(perModelLogits));
        for (int m = 1; m < perModelLogits.Count; m++)
        {
            var map = perModelLogits[m] ?? throw new ArgumentException($"perModelLogits[{m}] is null.", nameof(perModelLogits));
            if (map.Length != length)
                throw new ArgumentException(
                    $"perModelLogits[{m}] has {map.Length} values but perModelLogits[0] has {length}.", nameof(perModelLogits));
        }

        var sum = new double[length];
        foreach (var map in perModelLogits)
        {
            var p = ToProbabilities(map, layout);
            for (int i = 0; i < length; i++) sum[i] += p[i];
        }
        var mean = new float[length];
        for (int i = 0; i < length; i++) mean[i] = (float)(sum[i] / perModelLogits.Count);
        return mean;
    }

    /// <summary>
    /// The ensemble's detections, per image: <see cref="MeanProbabilities"/> decoded by
    /// <see cref="DetectionDecoder.DecodeProbabilitiesBatch"/>.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<Detection>> Decode(
        IReadOnlyList<float[]> perModelLogits, DetectionLayout layout, DetectionDecodeOptions? options = null) =>
        DetectionDecoder.DecodeProbabilitiesBatch(MeanProbabilities(perModelLogits, layout), layout, options);

    internal static void CheckWholeImages(int length, DetectionLayout layout, string parameter)
    {
        if (length % layout.ValuesPerImage != 0)
            throw new ArgumentException(
                $"a dense map of {length} values is not a whole number of images of {layout.ValuesPerImage} values " +
                $"({layout.Locations} locations x {layout.RowWidth}: {layout.Classes} classes + 4 sides x {layout.Bins} bins).",
                parameter);
    }

    private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));
}
