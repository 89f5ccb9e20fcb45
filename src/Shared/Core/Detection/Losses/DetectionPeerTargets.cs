using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// What one detector student needs from its peers in one step (docs/design/detection.md §3, the peer-sum identity),
/// as plain row-major arrays; every sum runs over the peers j ≠ i with their per-location weights ŵ_j.
/// </summary>
/// <param name="ClassProbSum">A = Σ_j ŵ_j·σ(z_j/T), [N·L·C].</param>
/// <param name="WeightSum">Wt = Σ_j ŵ_j, [N·L].</param>
/// <param name="ClassNegEntropySum">Hc = Σ_j ŵ_j Σ_c [q log q + (1 − q) log(1 − q)], [N·L].</param>
/// <param name="SideProbSum">S = Σ_j ŵ_j·softmax(side_j/T), [N·L·4·B].</param>
/// <param name="SideNegEntropySum">Hs = Σ_j ŵ_j Σ_k Σ_b p log p, [N·L].</param>
/// <param name="Peers">P, the number of peers summed.</param>
public sealed record DetectionPeerSums(
    double[] ClassProbSum, double[] WeightSum, double[] ClassNegEntropySum, double[] SideProbSum, double[] SideNegEntropySum, int Peers)
{
    /// <summary>The sums as tensors of the shapes <see cref="DetectionLoss.Ml(Tensor, DetectionPeerTensors, double, DetectionLayout)"/> takes. Must run inside a dispose scope.</summary>
    public DetectionPeerTensors ToTensors(int batch, DetectionLayout layout, ScalarType dtype, Device? device = null)
    {
        long l = layout.Locations;
        return new DetectionPeerTensors(
            tensor(ClassProbSum, [batch, l, layout.Classes], device: device).to_type(dtype),
            tensor(WeightSum, [batch, l], device: device).to_type(dtype),
            tensor(ClassNegEntropySum, [batch, l], device: device).to_type(dtype),
            tensor(SideProbSum, [batch, l, 4, layout.Bins], device: device).to_type(dtype),
            tensor(SideNegEntropySum, [batch, l], device: device).to_type(dtype),
            Peers);
    }
}

/// <summary>
/// Builds every detector student's peer sums from all students' dense maps in O(K·N·L·D): each student's weighted
/// terms (<see cref="Contribution"/>) are summed once over all K students, and each student gets total − own. This is
/// what keeps coordinator traffic linear in the students, as <see cref="Losses.PeerTargets"/> does for classification.
/// </summary>
public static class DetectionPeerTargets
{
    /// <summary>
    /// One source's weighted terms (the sums over that single peer, <see cref="DetectionPeerSums.Peers"/> = 1) from its
    /// map [N·L·D] row-major: ŵ = w / max(1, Σ_{n,l} w) with w = max_c σ(z) of the untempered logits, then ŵ·q, ŵ,
    /// ŵ·Σ_c [q log q + (1 − q) log(1 − q)], ŵ·p and ŵ·Σ_k Σ_b p log p with q = σ(z/T), p = softmax(side/T).
    /// </summary>
    public static DetectionPeerSums Contribution(ReadOnlySpan<double> map, int batch, DetectionLayout layout, double temperature)
    {
        int rows = batch * layout.Locations, c = layout.Classes, bins = layout.Bins, d = layout.RowWidth;
        if (batch <= 0 || map.Length != rows * d)
            throw new ArgumentException($"a map of {map.Length} values, expected batch {batch} x {layout.Locations} locations x {d}");

        var weights = new double[rows];
        double weightTotal = 0;
        for (int r = 0; r < rows; r++)
        {
            double w = 0;
            for (int k = 0; k < c; k++) w = Math.Max(w, Sigmoid(map[r * d + k]));
            weights[r] = w;
            weightTotal += w;
        }
        double norm = Math.Max(1.0, weightTotal);

        var a = new double[rows * c];
        var hc = new double[rows];
        var s = new double[rows * 4 * bins];
        var hs = new double[rows];
        var logP = new double[bins];
        for (int r = 0; r < rows; r++)
        {
            double wHat = weights[r] /= norm;
            var row = map.Slice(r * d, d);
            double h = 0;
            for (int k = 0; k < c; k++)
            {
                double x = row[k] / temperature;
                double q = Sigmoid(x);
                a[r * c + k] = wHat * q;
                h += q * LogSigmoid(x) + (1 - q) * LogSigmoid(-x);
            }
            hc[r] = wHat * h;

            double hSides = 0;
            for (int side = 0; side < 4; side++)
            {
                var logits = row.Slice(c + side * bins, bins);
                double max = double.NegativeInfinity;
                for (int b = 0; b < bins; b++) max = Math.Max(max, logits[b] / temperature);
                double sum = 0;
                for (int b = 0; b < bins; b++) sum += Math.Exp(logits[b] / temperature - max);
                double logSum = Math.Log(sum);
                for (int b = 0; b < bins; b++)
                {
                    logP[b] = logits[b] / temperature - max - logSum;
                    double p = Math.Exp(logP[b]);
                    s[(r * 4 + side) * bins + b] = wHat * p;
                    hSides += p * logP[b];
                }
            }
            hs[r] = wHat * hSides;
        }
        return new DetectionPeerSums(a, weights, hc, s, hs, 1);
    }

    /// <summary>Peer sums for every student, in the order of <paramref name="studentMaps"/> (each [N·L·D] row-major).</summary>
    public static DetectionPeerSums[] Build(IReadOnlyList<float[]> studentMaps, int batch, DetectionLayout layout, double temperature) =>
        Build(studentMaps.Select(m => Array.ConvertAll(m, v => (double)v)).ToArray(), batch, layout, temperature);

    /// <summary>Peer sums for every student, in the order of <paramref name="studentMaps"/> (each [N·L·D] row-major).</summary>
    public static DetectionPeerSums[] Build(IReadOnlyList<double[]> studentMaps, int batch, DetectionLayout layout, double temperature)
    {
        ArgumentNullException.ThrowIfNull(layout);
        int n = studentMaps.Count;
        var own = new DetectionPeerSums[n];
        for (int i = 0; i < n; i++) own[i] = Contribution(studentMaps[i], batch, layout, temperature);
        if (n == 0) return [];

        var total = own[0] with
        {
            ClassProbSum = new double[own[0].ClassProbSum.Length], WeightSum = new double[own[0].WeightSum.Length],
            ClassNegEntropySum = new double[own[0].ClassNegEntropySum.Length], SideProbSum = new double[own[0].SideProbSum.Length],
            SideNegEntropySum = new double[own[0].SideNegEntropySum.Length], Peers = n,
        };
        foreach (var o in own)
        {
            Add(total.ClassProbSum, o.ClassProbSum);
            Add(total.WeightSum, o.WeightSum);
            Add(total.ClassNegEntropySum, o.ClassNegEntropySum);
            Add(total.SideProbSum, o.SideProbSum);
            Add(total.SideNegEntropySum, o.SideNegEntropySum);
        }

        var result = new DetectionPeerSums[n];
        for (int i = 0; i < n; i++)
        {
            result[i] = new DetectionPeerSums(
                Minus(total.ClassProbSum, own[i].ClassProbSum, n), Minus(total.WeightSum, own[i].WeightSum, n),
                Minus(total.ClassNegEntropySum, own[i].ClassNegEntropySum, n), Minus(total.SideProbSum, own[i].SideProbSum, n),
                Minus(total.SideNegEntropySum, own[i].SideNegEntropySum, n), n - 1);
        }
        return result;
    }

    private static void Add(double[] into, double[] values)
    {
        for (int k = 0; k < into.Length; k++) into[k] += values[k];
    }

    /// <summary>total − own; exactly 0 for a lone student (no peers), as in <see cref="Losses.PeerTargets"/>.</summary>
    private static double[] Minus(double[] total, double[] own, int students)
    {
        var result = new double[total.Length];
        if (students == 1) return result;
        for (int k = 0; k < result.Length; k++) result[k] = total[k] - own[k];
        return result;
    }

    private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>log σ(x) without overflow: −log(1 + e^−x).</summary>
    private static double LogSigmoid(double x) => x >= 0 ? -Math.Log(1 + Math.Exp(-x)) : x - Math.Log(1 + Math.Exp(x));
}
