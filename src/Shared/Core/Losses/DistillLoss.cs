using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace P2PDistill.Shared.Losses;

/// <summary>The parts of one model's loss for one step (plain numbers, for logs and metrics).</summary>
public sealed record LossParts(double Total, double Ce, double Kd, double Ml)
{
    public static LossParts CeOnly(double ce) => new(ce, ce, 0, 0);
    public bool IsFinite => double.IsFinite(Total) && double.IsFinite(Ce) && double.IsFinite(Kd) && double.IsFinite(Ml);
}

/// <summary>The loss tensors of one step: <see cref="Total"/> carries the graph for backward.</summary>
public sealed record LossTensors(Tensor Total, Tensor Ce, Tensor Kd, Tensor Ml)
{
    public LossParts ToParts() => new(Total.ToDouble(), Ce.ToDouble(), Kd.ToDouble(), Ml.ToDouble());
}

/// <summary>
/// The student and teacher losses of DESIGN.md §1. Every function works in the dtype of its inputs
/// (float32 in training, float64 in the golden-fixture tests) and must run inside a dispose scope.
/// </summary>
public static class DistillLoss
{
    /// <summary>CE(z, y): cross-entropy of logits [B, C] against int64 labels [B], mean over the batch.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels) => F.cross_entropy(logits, labels);

    /// <summary>
    /// KD = T^2 · mean_b Σ_c p_t log(p_t / p_s), p = softmax(z / T): KL(teacher ‖ student), teacher detached.
    /// </summary>
    public static Tensor Kd(Tensor studentLogits, Tensor teacherLogits, double temperature)
    {
        var logPs = F.log_softmax(studentLogits / temperature, 1);
        var logPt = F.log_softmax(teacherLogits.detach() / temperature, 1);
        var kl = (logPt.exp() * (logPt - logPs)).sum(1).mean();
        return kl * (temperature * temperature);
    }

    /// <summary>
    /// ML = T^2 · (1/P) · Σ_j mean_b Σ_c p_j log(p_j / p_s) over P peers, peers detached,
    /// in the peer-sum form: it needs the peers only through
    /// <paramref name="peerProbSum"/> S = Σ_j softmax(z_j/T) [B, C] and
    /// <paramref name="peerNegEntropySum"/> H = Σ_j Σ_c p_j log p_j [B]:
    /// ML = T^2/P · mean_b (H_b − Σ_c S_bc log p_s,bc). Zero when P = 0.
    /// </summary>
    public static Tensor Ml(Tensor studentLogits, Tensor peerProbSum, Tensor peerNegEntropySum, int peers, double temperature)
    {
        if (peers <= 0) return zeros(Array.Empty<long>(), dtype: studentLogits.dtype);
        var logPs = F.log_softmax(studentLogits / temperature, 1);
        var cross = (peerProbSum.detach() * logPs).sum(1);
        var perSample = peerNegEntropySum.detach() - cross;
        return perSample.mean() * (temperature * temperature / peers);
    }

    /// <summary>
    /// L = w_ce·CE + alpha·KD + beta·ML for one student, alpha and beta as the mode makes them.
    /// KD and ML are computed whenever their inputs are given, so they can be logged even when
    /// their weight is zero; only terms with a positive weight enter the total (and the gradient).
    /// Absent inputs report the term as 0.
    /// </summary>
    public static LossTensors Student(
        Tensor studentLogits, Tensor labels, DistillationSettings settings,
        Tensor? teacherLogits, Tensor? peerProbSum, Tensor? peerNegEntropySum, int peers)
    {
        var zero = zeros(Array.Empty<long>(), dtype: studentLogits.dtype);
        var ce = CrossEntropy(studentLogits, labels);
        var total = ce * settings.WeightCe;

        var kd = zero;
        if (teacherLogits is not null)
        {
            kd = Kd(studentLogits, teacherLogits, settings.TemperatureKd);
            if (settings.EffectiveAlpha > 0) total = total + kd * settings.EffectiveAlpha;
            else kd = kd.detach();
        }

        var ml = zero;
        if (peers > 0 && peerProbSum is not null && peerNegEntropySum is not null)
        {
            ml = Ml(studentLogits, peerProbSum, peerNegEntropySum, peers, settings.TemperatureMl);
            if (settings.EffectiveBeta > 0) total = total + ml * settings.EffectiveBeta;
            else ml = ml.detach();
        }
        return new LossTensors(total, ce, kd, ml);
    }

    /// <summary>L_t = CE(z_t, y): the teacher trains online on the labels only.</summary>
    public static LossTensors Teacher(Tensor teacherLogits, Tensor labels)
    {
        var ce = CrossEntropy(teacherLogits, labels);
        var zero = zeros(Array.Empty<long>(), dtype: teacherLogits.dtype);
        return new LossTensors(ce, ce, zero, zero);
    }
}
