namespace P2PDistill.Shared.Metrics;

/// <summary>Combines the predictions of several models.</summary>
public static class Ensemble
{
    /// <summary>
    /// Element-wise mean of the models' probability arrays (each row-major N x C, all the same length): the
    /// "student ensemble" when given the students' softmax outputs. Summed in double precision.
    /// </summary>
    /// <exception cref="ArgumentException">No models, or arrays of different lengths.</exception>
    public static float[] MeanProbabilities(IReadOnlyList<float[]> perModelProbabilities)
    {
        ArgumentNullException.ThrowIfNull(perModelProbabilities);
        if (perModelProbabilities.Count == 0)
            throw new ArgumentException("At least one model's probabilities are needed.", nameof(perModelProbabilities));

        var length = perModelProbabilities[0]?.Length
            ?? throw new ArgumentException("perModelProbabilities[0] is null.", nameof(perModelProbabilities));
        var sum = new double[length];
        for (var m = 0; m < perModelProbabilities.Count; m++)
        {
            var p = perModelProbabilities[m]
                ?? throw new ArgumentException($"perModelProbabilities[{m}] is null.", nameof(perModelProbabilities));
            if (p.Length != length)
                throw new ArgumentException(
                    $"perModelProbabilities[{m}] has {p.Length} values but perModelProbabilities[0] has {length}.",
                    nameof(perModelProbabilities));
            for (var i = 0; i < length; i++) sum[i] += p[i];
        }

        var mean = new float[length];
        for (var i = 0; i < length; i++) mean[i] = (float)(sum[i] / perModelProbabilities.Count);
        return mean;
    }
}
