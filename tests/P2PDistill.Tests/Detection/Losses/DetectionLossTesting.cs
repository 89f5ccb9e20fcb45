using P2PDistill.Shared.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Losses;

/// <summary>Tiny layouts, seeded maps, plain-double references and the finite-difference check the detection loss specs share.</summary>
internal static class DetectionLossTesting
{
    /// <summary>32×32 input, 2 classes, B = 4 bins: L = 16 + 4 = 20 locations of D = 2 + 16 = 18 floats.</summary>
    public static DetectionLayout Small { get; } = new(2, 32, 32, bins: 4);

    /// <summary>16×16 input, 2 classes, B = 4 bins: L = 4 + 1 = 5 locations (for the finite-difference checks).</summary>
    public static DetectionLayout Tiny { get; } = new(2, 16, 16, bins: 4);

    /// <summary>A seeded map [batch·L·D] row-major, values uniform in [−scale, scale].</summary>
    public static double[] RandomMap(int seed, int batch, DetectionLayout layout, double scale = 2.0)
    {
        var random = new Random(seed);
        var map = new double[batch * layout.ValuesPerImage];
        for (int k = 0; k < map.Length; k++) map[k] = (random.NextDouble() * 2 - 1) * scale;
        return map;
    }

    public static Tensor MapTensor(double[] map, int batch, DetectionLayout layout) =>
        tensor(map, [batch, layout.Locations, layout.RowWidth]);

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static double[] Softmax(ReadOnlySpan<double> logits, double temperature)
    {
        var p = new double[logits.Length];
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v / temperature);
        double sum = 0;
        for (int b = 0; b < p.Length; b++) sum += p[b] = Math.Exp(logits[b] / temperature - max);
        for (int b = 0; b < p.Length; b++) p[b] /= sum;
        return p;
    }

    /// <summary>
    /// KD written out plainly from its definition (docs/design/detection.md §3), in double, from probabilities:
    /// T² Σ_{n,l} ŵ_t (Σ_c KLBern(p ‖ q) + ¼ Σ_k KL(P_k ‖ Q_k)).
    /// </summary>
    public static double ReferenceKd(double[] student, double[] teacher, int batch, DetectionLayout layout, double temperature)
    {
        int rows = batch * layout.Locations, c = layout.Classes, bins = layout.Bins, d = layout.RowWidth;
        var w = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < c; k++) w[r] = Math.Max(w[r], Sigmoid(teacher[r * d + k]));
        double norm = Math.Max(1, w.Sum());
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            double classes = 0;
            for (int k = 0; k < c; k++)
            {
                double p = Sigmoid(teacher[r * d + k] / temperature), q = Sigmoid(student[r * d + k] / temperature);
                classes += p * Math.Log(p / q) + (1 - p) * Math.Log((1 - p) / (1 - q));
            }
            double sides = 0;
            for (int side = 0; side < 4; side++)
            {
                int at = r * d + c + side * bins;
                var pt = Softmax(teacher.AsSpan(at, bins), temperature);
                var ps = Softmax(student.AsSpan(at, bins), temperature);
                for (int b = 0; b < bins; b++) sides += pt[b] * Math.Log(pt[b] / ps[b]);
            }
            total += w[r] / norm * (classes + sides / 4);
        }
        return temperature * temperature * total;
    }

    /// <summary>The gradient of a scalar function of one float64 tensor by autograd.</summary>
    public static double[] AutogradGradient(Func<Tensor, Tensor> f, double[] x, long[] shape)
    {
        using var scope = NewDisposeScope();
        var input = tensor(x, shape).requires_grad_();
        f(input).backward();
        return input.grad!.data<double>().ToArray();
    }

    /// <summary>The gradient of a scalar function of one float64 tensor by central differences, step <paramref name="h"/>.</summary>
    public static double[] NumericGradient(Func<Tensor, Tensor> f, double[] x, long[] shape, double h = 1e-5)
    {
        using var noGrad = no_grad();
        var gradient = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int k = 0; k < x.Length; k++)
        {
            using var scope = NewDisposeScope();
            probe[k] = x[k] + h;
            double plus = f(tensor(probe, shape)).ToDouble();
            probe[k] = x[k] - h;
            double minus = f(tensor(probe, shape)).ToDouble();
            probe[k] = x[k];
            gradient[k] = (plus - minus) / (2 * h);
        }
        return gradient;
    }

    /// <summary>Autograd against central differences, 1e-6 relative (with an absolute floor of 1e-8 near zero).</summary>
    public static void AssertGradient(Func<Tensor, Tensor> f, double[] x, long[] shape, string what)
    {
        var analytic = AutogradGradient(f, x, shape);
        var numeric = NumericGradient(f, x, shape);
        Assert.Contains(numeric, v => Math.Abs(v) > 1e-4);
        AssertClose(numeric, analytic, 1e-6, 1e-8, what);
    }

    public static void AssertClose(double[] expected, double[] actual, double rel, double abs, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            var tol = Math.Max(abs, rel * Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol,
                $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tol:G3})");
        }
    }

    public static void AssertClose(double expected, double actual, double rel, string what) =>
        AssertClose([expected], [actual], rel, 1e-15, what);

    public static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
}
