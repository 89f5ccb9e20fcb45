namespace P2PDistill.Shared.Losses;

/// <summary>Which loss terms a student uses (DESIGN.md §1).</summary>
public enum DistillMode
{
    /// <summary>Cross-entropy only (alpha = beta = 0).</summary>
    Independent,
    /// <summary>Cross-entropy + KD from the teacher (beta = 0).</summary>
    Kd,
    /// <summary>Cross-entropy + mutual learning between students (alpha = 0).</summary>
    Ml,
    /// <summary>Cross-entropy + KD + ML.</summary>
    KdMl,
}

public static class DistillModes
{
    public static DistillMode Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "independent" or "ce" => DistillMode.Independent,
        "kd" => DistillMode.Kd,
        "ml" or "dml" => DistillMode.Ml,
        "kd-ml" or "kdml" or "kd+ml" => DistillMode.KdMl,
        _ => throw new ArgumentException($"Unknown mode '{text}'. Known modes: independent, kd, ml, kd-ml."),
    };

    public static string Name(this DistillMode mode) => mode switch
    {
        DistillMode.Independent => "independent",
        DistillMode.Kd => "kd",
        DistillMode.Ml => "ml",
        DistillMode.KdMl => "kd-ml",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    public static bool UsesTeacher(this DistillMode mode) => mode is DistillMode.Kd or DistillMode.KdMl;
    public static bool UsesPeers(this DistillMode mode) => mode is DistillMode.Ml or DistillMode.KdMl;
}

/// <summary>
/// Weights and temperatures of the student loss
/// <c>L = w_ce * CE + alpha * KD + beta * ML</c> (DESIGN.md §1). The mode zeroes alpha and/or beta.
/// </summary>
public sealed record DistillationSettings(
    DistillMode Mode = DistillMode.KdMl,
    double WeightCe = 1.0,
    double Alpha = 1.0,
    double Beta = 1.0,
    double TemperatureKd = 1.0,
    double TemperatureMl = 1.0)
{
    /// <summary>alpha as used by the loss: 0 unless the mode uses the teacher.</summary>
    public double EffectiveAlpha => Mode.UsesTeacher() ? Alpha : 0.0;

    /// <summary>beta as used by the loss: 0 unless the mode uses the peers.</summary>
    public double EffectiveBeta => Mode.UsesPeers() ? Beta : 0.0;

    /// <summary>Every problem with these settings, each naming the setting (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!(TemperatureKd > 0) || double.IsInfinity(TemperatureKd)) errors.Add($"temperature-kd must be > 0 (got {TemperatureKd})");
        if (!(TemperatureMl > 0) || double.IsInfinity(TemperatureMl)) errors.Add($"temperature-ml must be > 0 (got {TemperatureMl})");
        if (!(WeightCe >= 0) || double.IsInfinity(WeightCe)) errors.Add($"weight-ce must be >= 0 (got {WeightCe})");
        if (!(Alpha >= 0) || double.IsInfinity(Alpha)) errors.Add($"alpha must be >= 0 (got {Alpha})");
        if (!(Beta >= 0) || double.IsInfinity(Beta)) errors.Add($"beta must be >= 0 (got {Beta})");
        return errors;
    }
}
