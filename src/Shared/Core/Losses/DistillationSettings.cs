using System.ComponentModel;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Shared.Losses;

/// <summary>Which loss terms a student uses (DESIGN.md §1). Written independent, kd, ml or kd-ml.</summary>
[TypeConverter(typeof(DistillModeConverter))]
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

public sealed class DistillModeConverter() : SettingEnumConverter<DistillMode>(
    (DistillMode.Independent, "independent", ["ce"]),
    (DistillMode.Kd, "kd", []),
    (DistillMode.Ml, "ml", ["dml"]),
    (DistillMode.KdMl, "kd-ml", ["kdml", "kd+ml"]));

public static class DistillModes
{
    /// <inheritdoc cref="SettingEnumConverter{T}.Parse"/>
    public static DistillMode Parse(string text) => SettingNames.Of<DistillMode>().Parse(text);

    public static string Name(this DistillMode mode) => mode.SettingName();

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
    double TemperatureMl = 1.0,
    long RampUpSteps = 0)
{
    /// <summary>
    /// The weight of the KD and ML terms after <paramref name="step"/> optimizer steps when they ramp up over
    /// <see cref="RampUpSteps"/> steps: the sigmoid-shaped exp(−5 (1 − t)²), t = step / RampUpSteps capped at 1, as in
    /// mean teacher (Laine &amp; Aila; Tarvainen &amp; Valpola) and PCL. 1 without a ramp.
    /// </summary>
    public double RampUpWeight(long step)
    {
        if (RampUpSteps <= 0) return 1.0;
        double t = Math.Clamp(step / (double)RampUpSteps, 0, 1);
        return Math.Exp(-5 * (1 - t) * (1 - t));
    }

    /// <summary>The settings the loss uses at <paramref name="step"/>: alpha and beta times <see cref="RampUpWeight"/>.</summary>
    public DistillationSettings AtStep(long step) =>
        RampUpSteps <= 0 ? this : this with { Alpha = Alpha * RampUpWeight(step), Beta = Beta * RampUpWeight(step) };

    /// <summary>alpha as used by the loss: 0 unless the mode uses the teacher.</summary>
    public double EffectiveAlpha => Mode.UsesTeacher() ? Alpha : 0.0;

    /// <summary>beta as used by the loss: 0 unless the mode uses the peers.</summary>
    public double EffectiveBeta => Mode.UsesPeers() ? Beta : 0.0;

    /// <summary>Every problem with these settings, each naming the flag (empty when valid).</summary>
    public IReadOnlyList<string> Validate() =>
        new[] { TemperatureProblem("temperature-kd", TemperatureKd), TemperatureProblem("temperature-ml", TemperatureMl),
                WeightProblem("weight-ce", WeightCe), WeightProblem("alpha", Alpha), WeightProblem("beta", Beta) }
        .OfType<string>().ToList();

    /// <summary>The one rule for a temperature, wherever it is given: null when <paramref name="t"/> is valid.</summary>
    /// <param name="given">The text as the user wrote it, when it came from a list (shown instead of the number).</param>
    public static string? TemperatureProblem(string flag, double t, string? given = null) =>
        t > 0 && !double.IsInfinity(t) ? null
            : $"--{flag} must be > 0 and finite (got {(given is null ? t.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"'{given}'")}); 1 is the default, 4 is common for offline distillation";

    /// <summary>The one rule for a loss weight: null when <paramref name="w"/> is valid.</summary>
    public static string? WeightProblem(string flag, double w) =>
        w >= 0 && !double.IsInfinity(w) ? null : $"--{flag} must be >= 0 and finite (got {w}); use 0 to switch the term off (or choose it with --mode)";
}
