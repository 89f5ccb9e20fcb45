namespace P2PDistill.Shared.Losses;

/// <summary>What one student needs from its peers in one step (DESIGN.md §1, the peer-sum identity).</summary>
/// <param name="ProbSum">S_i = Σ_{j≠i} softmax(z_j/T_ml), row-major [B, C].</param>
/// <param name="NegEntropySum">H_i = Σ_{j≠i} Σ_c p_j log p_j, per sample [B].</param>
/// <param name="Peers">K − 1, the number of peers summed.</param>
public sealed record PeerSums(double[] ProbSum, double[] NegEntropySum, int Peers);

/// <summary>
/// Builds every student's peer sums from all students' logits in O(N·B·C): the totals
/// S_all = Σ_j p_j and H_all = Σ_j Σ_c p_j log p_j are computed once and each student gets
/// S_all − p_i and H_all − h_i. This is what keeps coordinator traffic linear in the students.
/// </summary>
public static class PeerTargets
{
    /// <summary>Row-wise softmax(z/T) in double and the per-row Σ_c p log p.</summary>
    public static (double[] Probs, double[] NegEntropy) Softmax(ReadOnlySpan<double> logits, int batch, int classes, double temperature)
    {
        CheckShape(logits.Length, batch, classes);
        var probs = new double[batch * classes];
        var negEnt = new double[batch];
        for (int b = 0; b < batch; b++)
        {
            var row = logits.Slice(b * classes, classes);
            double max = double.NegativeInfinity;
            for (int c = 0; c < classes; c++) max = Math.Max(max, row[c] / temperature);
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += Math.Exp(row[c] / temperature - max);
            double logSum = Math.Log(sum);
            double h = 0;
            for (int c = 0; c < classes; c++)
            {
                double logP = row[c] / temperature - max - logSum;
                double p = Math.Exp(logP);
                probs[b * classes + c] = p;
                h += p * logP;
            }
            negEnt[b] = h;
        }
        return (probs, negEnt);
    }

    /// <summary>Peer sums for every student, in the order of <paramref name="studentLogits"/>.</summary>
    public static PeerSums[] Build(IReadOnlyList<float[]> studentLogits, int batch, int classes, double temperature) =>
        Build(studentLogits.Select(l => Array.ConvertAll(l, v => (double)v)).ToArray(), batch, classes, temperature);

    /// <summary>Peer sums for every student, in the order of <paramref name="studentLogits"/>.</summary>
    public static PeerSums[] Build(IReadOnlyList<double[]> studentLogits, int batch, int classes, double temperature)
    {
        int n = studentLogits.Count;
        var probs = new double[n][];
        var negEnt = new double[n][];
        var sAll = new double[batch * classes];
        var hAll = new double[batch];
        for (int i = 0; i < n; i++)
        {
            (probs[i], negEnt[i]) = Softmax(studentLogits[i], batch, classes, temperature);
            for (int k = 0; k < sAll.Length; k++) sAll[k] += probs[i][k];
            for (int b = 0; b < batch; b++) hAll[b] += negEnt[i][b];
        }

        var result = new PeerSums[n];
        for (int i = 0; i < n; i++)
        {
            var s = new double[sAll.Length];
            var h = new double[batch];
            for (int k = 0; k < s.Length; k++) s[k] = n == 1 ? 0 : sAll[k] - probs[i][k];
            for (int b = 0; b < batch; b++) h[b] = n == 1 ? 0 : hAll[b] - negEnt[i][b];
            result[i] = new PeerSums(s, h, n - 1);
        }
        return result;
    }

    private static void CheckShape(int length, int batch, int classes)
    {
        if (batch <= 0 || classes <= 0 || length != batch * classes)
            throw new ArgumentException($"logits hold {length} values, expected batch {batch} x classes {classes}");
    }
}
