namespace P2PDistill.Benchmarks.Support;

/// <summary>One step as the coordinator recorded it in RUN/metrics/steps.jsonl.</summary>
public sealed record StepSample(long GlobalStep, int BatchSize, double Seconds, double CoordinationMs, long BytesSent, long BytesReceived, double[] ComputeMs)
{
    public double StepMs => Seconds * 1000;
    public double SlowestMs => ComputeMs.Length == 0 ? 0 : ComputeMs.Max();
    public double SumComputeMs => ComputeMs.Sum();

    public static StepSample Of(StepLogRow r) =>
        new(r.GlobalStep, r.BatchSize, r.Seconds, r.CoordinationMs, r.BytesSent, r.BytesReceived, r.Models.Select(m => m.ComputeMs).ToArray());
}

/// <summary>Figures of a run from its steps.jsonl, the first <c>warmup</c> steps left out (JIT, allocator, cluster settling).</summary>
public sealed record StepStats(
    int Steps, int Skipped, double ImagesPerSecond, double MedianStepMs, double MedianSlowestMs, double MedianSumComputeMs,
    double MedianCoordinationMs, double MedianOverheadMs, double MedianBytesSent, double MedianBytesReceived, IReadOnlyList<double> MedianComputePerModel)
{
    /// <summary>Overhead as a share of the step.</summary>
    public double OverheadShare => MedianStepMs > 0 ? MedianOverheadMs / MedianStepMs : double.NaN;

    /// <param name="sequential">True for the single-process runner, whose models compute one after the other: its critical path is
    /// the sum of the models' compute, not the slowest model's.</param>
    public static StepStats Of(IReadOnlyList<StepSample> all, int warmup, bool sequential)
    {
        if (all.Count == 0) throw new InvalidOperationException("the run recorded no steps");
        int skip = Math.Min(warmup, all.Count / 2);
        var s = all.Skip(skip).ToList();
        double seconds = s.Sum(x => x.Seconds);
        int models = s.Min(x => x.ComputeMs.Length);
        return new StepStats(
            s.Count, skip,
            seconds > 0 ? s.Sum(x => (double)x.BatchSize) / seconds : 0,
            Median(s.Select(x => x.StepMs)),
            Median(s.Select(x => x.SlowestMs)),
            Median(s.Select(x => x.SumComputeMs)),
            Median(s.Select(x => x.CoordinationMs)),
            Median(s.Select(x => Math.Max(0, x.StepMs - (sequential ? x.SumComputeMs : x.SlowestMs)))),
            Median(s.Select(x => (double)x.BytesSent)),
            Median(s.Select(x => (double)x.BytesReceived)),
            Enumerable.Range(0, models).Select(m => Median(s.Select(x => x.ComputeMs[m]))).ToList());
    }

    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>Least-squares line y = a + b x; returns (a, b).</summary>
    public static (double Intercept, double Slope) Fit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n = x.Count;
        if (n < 2) return (n == 1 ? y[0] : double.NaN, double.NaN);
        double mx = x.Average(), my = y.Average();
        double sxx = x.Sum(v => (v - mx) * (v - mx));
        double sxy = x.Select((v, i) => (v - mx) * (y[i] - my)).Sum();
        double b = sxx > 0 ? sxy / sxx : double.NaN;
        return (my - b * mx, b);
    }

    /// <summary>The share of the variance of <paramref name="y"/> that the line y = a + b x explains.</summary>
    public static double RSquared(IReadOnlyList<double> x, IReadOnlyList<double> y, double a, double b)
    {
        double my = y.Average();
        double total = y.Sum(v => (v - my) * (v - my));
        double residual = x.Select((v, i) => Math.Pow(y[i] - (a + b * v), 2)).Sum();
        return total > 0 ? 1 - residual / total : 1;
    }
}
