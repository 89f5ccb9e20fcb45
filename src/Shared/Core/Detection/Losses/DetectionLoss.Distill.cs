using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// What one detector student needs from its peers in one step, as tensors (docs/design/detection.md §3, the peer-sum
/// identity); built from <see cref="DetectionPeerSums.ToTensors"/>.
/// </summary>
/// <param name="ClassProbSum">A = Σ_j ŵ_j·σ(z_j/T) [N, L, C].</param>
/// <param name="WeightSum">Wt = Σ_j ŵ_j [N, L].</param>
/// <param name="ClassNegEntropySum">Hc = Σ_j ŵ_j Σ_c [q log q + (1 − q) log(1 − q)] [N, L].</param>
/// <param name="SideProbSum">S = Σ_j ŵ_j·softmax(side_j/T) [N, L, 4, B].</param>
/// <param name="SideNegEntropySum">Hs = Σ_j ŵ_j Σ_k Σ_b p log p [N, L].</param>
/// <param name="Peers">P, the number of peers summed.</param>
public sealed record DetectionPeerTensors(
    Tensor ClassProbSum, Tensor WeightSum, Tensor ClassNegEntropySum, Tensor SideProbSum, Tensor SideNegEntropySum, int Peers);

public static partial class DetectionLoss
{
    /// <summary>
    /// A source's per-location weights ŵ = w / max(1, Σ_{n,l} w), w = max_c σ(class logit) of the untempered logits,
    /// detached: [N, L].
    /// </summary>
    public static Tensor SourceWeights(Tensor map, DetectionLayout layout)
    {
        var w = ClassLogits(map, layout).detach().sigmoid().max(-1).values;
        return w / w.sum().clamp_min(1.0);
    }

    /// <summary>
    /// KL between Bernoullis, elementwise: <c>KL(Bern(p) ‖ Bern(q))</c> with p = σ(t/T), q = σ(s/T), computed from
    /// log-sigmoids. Neither side is detached here.
    /// </summary>
    public static Tensor BernoulliKl(Tensor teacherLogits, Tensor studentLogits, double temperature)
    {
        var t = teacherLogits / temperature;
        var s = studentLogits / temperature;
        var p = t.sigmoid();
        return p * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p) * (F.logsigmoid(-t) - F.logsigmoid(-s));
    }

    /// <summary>
    /// KL between categoricals over the last dimension: <c>Σ_b p_b log(p_b / q_b)</c>, p = softmax(t/T), q = softmax(s/T),
    /// [..., B] → [...]. Neither side is detached here.
    /// </summary>
    public static Tensor SoftmaxKl(Tensor teacherLogits, Tensor studentLogits, double temperature)
    {
        var logP = F.log_softmax(teacherLogits / temperature, -1);
        var logQ = F.log_softmax(studentLogits / temperature, -1);
        return (logP.exp() * (logP - logQ)).sum(-1);
    }

    /// <summary>The class part of KD: <c>T² Σ_{n,l} ŵ_t · Σ_c KLBern(σ(z_t/T) ‖ σ(z_s/T))</c>, the teacher detached.</summary>
    public static Tensor KdClasses(Tensor studentMap, Tensor teacherMap, double temperature, DetectionLayout layout)
    {
        var teacher = CheckPair(studentMap, teacherMap, layout);
        var kl = BernoulliKl(ClassLogits(teacher, layout), ClassLogits(studentMap, layout), temperature).sum(-1);
        return (SourceWeights(teacher, layout) * kl).sum() * (temperature * temperature);
    }

    /// <summary>
    /// The side part of KD (localisation distillation): <c>T² Σ_{n,l} ŵ_t · ¼ Σ_k KL(softmax(t_k/T) ‖ softmax(s_k/T))</c>,
    /// the teacher detached.
    /// </summary>
    public static Tensor KdSides(Tensor studentMap, Tensor teacherMap, double temperature, DetectionLayout layout)
    {
        var teacher = CheckPair(studentMap, teacherMap, layout);
        var kl = SoftmaxKl(SideLogits(teacher, layout), SideLogits(studentMap, layout), temperature).mean([-1]);
        return (SourceWeights(teacher, layout) * kl).sum() * (temperature * temperature);
    }

    /// <summary>KD from a teacher map to a student map, both [N, L, D]: <see cref="KdClasses"/> + <see cref="KdSides"/>.</summary>
    public static Tensor Kd(Tensor studentMap, Tensor teacherMap, double temperature, DetectionLayout layout) =>
        KdClasses(studentMap, teacherMap, temperature, layout) + KdSides(studentMap, teacherMap, temperature, layout);

    /// <inheritdoc cref="Ml(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, int, double, DetectionLayout)"/>
    public static Tensor Ml(Tensor studentMap, DetectionPeerTensors peers, double temperature, DetectionLayout layout) =>
        Ml(studentMap, peers.ClassProbSum, peers.WeightSum, peers.ClassNegEntropySum, peers.SideProbSum, peers.SideNegEntropySum,
           peers.Peers, temperature, layout);

    /// <summary>
    /// ML of one student against its P peers in the peer-sum form (docs/design/detection.md §3), equal to
    /// <c>(1/P) Σ_j Kd(student, peer_j)</c> (<see cref="MlDirect"/>) but needing the peers only through their sums
    /// (detached here): with q = σ(z_s/T) and p = softmax(side_s/T),
    /// <c>T²/P Σ_{n,l} ([Hc − Σ_c (A log q + (Wt − A) log(1 − q))] + ¼ [Hs − Σ_k Σ_b S log p])</c>. Zero when P = 0.
    /// </summary>
    /// <param name="classProbSum">A [N, L, C].</param>
    /// <param name="weightSum">Wt [N, L].</param>
    /// <param name="classNegEntropySum">Hc [N, L].</param>
    /// <param name="sideProbSum">S [N, L, 4, B].</param>
    /// <param name="sideNegEntropySum">Hs [N, L].</param>
    public static Tensor Ml(
        Tensor studentMap, Tensor classProbSum, Tensor weightSum, Tensor classNegEntropySum, Tensor sideProbSum,
        Tensor sideNegEntropySum, int peers, double temperature, DetectionLayout layout)
    {
        if (peers <= 0) return zeros(Array.Empty<long>(), dtype: studentMap.dtype, device: studentMap.device);
        var z = ClassLogits(studentMap, layout) / temperature;
        var a = classProbSum.detach();
        var classCross = (a * F.logsigmoid(z) + (weightSum.detach().unsqueeze(-1) - a) * F.logsigmoid(-z)).sum(-1);
        var classPart = classNegEntropySum.detach() - classCross;

        var logP = F.log_softmax(SideLogits(studentMap, layout) / temperature, -1);
        var sideCross = (sideProbSum.detach() * logP).sum([-1, -2]);
        var sidePart = (sideNegEntropySum.detach() - sideCross) * 0.25;

        return (classPart + sidePart).sum() * (temperature * temperature / peers);
    }

    /// <summary>
    /// ML the direct way, from the peers' maps: <c>(1/P) Σ_j Kd(student, peer_j, T)</c>. O(P) in the peers' maps; the
    /// reference <see cref="Ml(Tensor, DetectionPeerTensors, double, DetectionLayout)"/> must equal. Zero without peers.
    /// </summary>
    public static Tensor MlDirect(Tensor studentMap, IReadOnlyList<Tensor> peerMaps, double temperature, DetectionLayout layout)
    {
        var sum = zeros(Array.Empty<long>(), dtype: studentMap.dtype, device: studentMap.device);
        if (peerMaps.Count == 0) return sum;
        foreach (var peer in peerMaps) sum = sum + Kd(studentMap, peer, temperature, layout);
        return sum / peerMaps.Count;
    }

    private static Tensor CheckPair(Tensor studentMap, Tensor teacherMap, DetectionLayout layout)
    {
        CheckMap(studentMap, layout);
        CheckMap(teacherMap, layout);
        if (studentMap.shape[0] != teacherMap.shape[0])
            throw new ArgumentException($"a student map of {studentMap.shape[0]} images against a teacher map of {teacherMap.shape[0]}");
        return teacherMap.detach();
    }
}
