namespace P2PDistill.Shared.Metrics;

/// <summary>Softmax on plain arrays, for logits that have already left the tensor world.</summary>
public static class Softmax
{
    /// <summary>
    /// Row-wise softmax of row-major N x C <paramref name="logits"/>: exp(x - max) / sum exp(x - max), so large
    /// logits do not overflow. Returns a new array.
    /// </summary>
    /// <exception cref="ArgumentException">C &lt; 1 or a length that is not a multiple of C.</exception>
    public static float[] Rows(float[] logits, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (numClasses < 1)
            throw new ArgumentException($"numClasses must be positive, got {numClasses}.", nameof(numClasses));
        if (logits.Length % numClasses != 0)
            throw new ArgumentException($"logits has {logits.Length} values, not a multiple of {numClasses} classes.", nameof(logits));

        var result = new float[logits.Length];
        for (var offset = 0; offset < logits.Length; offset += numClasses)
        {
            var max = float.NegativeInfinity;
            for (var k = 0; k < numClasses; k++) max = Math.Max(max, logits[offset + k]);
            var sum = 0.0;
            for (var k = 0; k < numClasses; k++)
            {
                var e = Math.Exp(logits[offset + k] - (double)max);
                result[offset + k] = (float)e;
                sum += e;
            }
            for (var k = 0; k < numClasses; k++) result[offset + k] = (float)(result[offset + k] / sum);
        }
        return result;
    }
}
