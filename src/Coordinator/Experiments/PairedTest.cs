namespace P2PDistill.Coordinator.Experiments;

/// <summary>
/// A paired comparison over seeds: the differences <c>a_i − b_i</c> of two modes run with the same seeds, their mean, standard
/// error, Student's t statistic and two-sided p-value (n − 1 degrees of freedom).
/// </summary>
/// <param name="Pairs">Seeds both modes ran.</param>
/// <param name="MeanDifference">Mean of a − b.</param>
/// <param name="StandardError">Sample std of the differences / √n (NaN with one pair).</param>
/// <param name="T">Mean / SE (±∞ when every difference is the same non-zero value, NaN with one pair).</param>
/// <param name="PValue">Two-sided p of the paired t-test (NaN with one pair).</param>
public sealed record PairedTest(int Pairs, double MeanDifference, double StandardError, double T, double PValue)
{
    public int DegreesOfFreedom => Pairs - 1;

    public static PairedTest Of(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"paired samples differ in size: {a.Count} and {b.Count}");
        int n = a.Count;
        if (n == 0) return new PairedTest(0, double.NaN, double.NaN, double.NaN, double.NaN);
        var d = a.Zip(b, (x, y) => x - y).ToArray();
        double mean = d.Average();
        if (n == 1) return new PairedTest(1, mean, double.NaN, double.NaN, double.NaN);
        double sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (n - 1));
        double se = sd / Math.Sqrt(n);
        // Every seed moved by the same amount (to rounding): no spread, so any non-zero difference is certain.
        if (se <= 1e-12 * Math.Max(1, Math.Abs(mean)))
            return mean == 0 ? new PairedTest(n, 0, 0, 0, 1) : new PairedTest(n, mean, 0, Math.Sign(mean) * double.PositiveInfinity, 0);
        double t = mean / se;
        return new PairedTest(n, mean, se, t, TwoSidedP(t, n - 1));
    }

    /// <summary>P(|T| ≥ |t|) for Student's t with <paramref name="df"/> degrees of freedom: I_{df/(df+t²)}(df/2, 1/2).</summary>
    public static double TwoSidedP(double t, int df)
    {
        if (df < 1) throw new ArgumentOutOfRangeException(nameof(df), df, "needs at least one degree of freedom");
        if (double.IsInfinity(t)) return 0;
        return RegularizedIncompleteBeta(df / (df + t * t), df / 2.0, 0.5);
    }

    /// <summary>The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz), accurate to ~1e-14.</summary>
    public static double RegularizedIncompleteBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        // The continued fraction converges fast below (a + 1) / (a + b + 2); above, use I_x(a, b) = 1 − I_{1−x}(b, a).
        if (x > (a + 1) / (a + b + 2)) return 1 - RegularizedIncompleteBeta(1 - x, b, a);
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x)) / a;
        const double tiny = 1e-300;
        double f = 1, c = 1, dd = 0;
        for (int i = 0; i <= 400; i++)
        {
            int m = i / 2;
            double numerator = i == 0 ? 1
                : i % 2 == 0 ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                : -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
            dd = 1 + numerator * dd;
            dd = 1 / (Math.Abs(dd) < tiny ? tiny : dd);
            c = 1 + numerator / c;
            if (Math.Abs(c) < tiny) c = tiny;
            f *= c * dd;
            if (Math.Abs(1 - c * dd) < 1e-15) break;
        }
        return front * (f - 1);
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7, nine terms; relative error ~1e-15).</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x);
        ReadOnlySpan<double> p =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        double sum = p[0];
        for (int i = 1; i < p.Length; i++) sum += p[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
