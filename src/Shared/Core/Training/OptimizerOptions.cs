using System.ComponentModel;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Shared.Training;

/// <summary>The optimizer: sgd (with momentum), adam or adamw.</summary>
[TypeConverter(typeof(OptimizerKindConverter))]
public enum OptimizerKind { Sgd, Adam, AdamW }

public sealed class OptimizerKindConverter() : SettingEnumConverter<OptimizerKind>(
    (OptimizerKind.Sgd, "sgd", []), (OptimizerKind.Adam, "adam", []), (OptimizerKind.AdamW, "adamw", []));

/// <summary>The learning-rate schedule: constant, cosine (to 0 over the run) or step (×Gamma every StepEpochs epochs).</summary>
[TypeConverter(typeof(LearningRateScheduleKindConverter))]
public enum LearningRateScheduleKind { Constant, Cosine, Step }

public sealed class LearningRateScheduleKindConverter() : SettingEnumConverter<LearningRateScheduleKind>(
    (LearningRateScheduleKind.Constant, "constant", []), (LearningRateScheduleKind.Cosine, "cosine", []), (LearningRateScheduleKind.Step, "step", []));

/// <summary>Optimizer and learning-rate schedule of one model. Bound from configuration section "Optimizer"; immutable.</summary>
public sealed record OptimizerOptions
{
    /// <summary>sgd (with momentum), adam or adamw.</summary>
    public OptimizerKind Name { get; init; } = OptimizerKind.Adam;
    public double LearningRate { get; init; } = 1e-3;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; }

    /// <summary>constant, cosine (to 0 over the run) or step (×Gamma every StepEpochs epochs).</summary>
    public LearningRateScheduleKind Schedule { get; init; } = LearningRateScheduleKind.Constant;
    public int StepEpochs { get; init; } = 10;
    public double Gamma { get; init; } = 0.1;
    /// <summary>Linear warm-up over this many steps (0: none).</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Null when valid, else what is wrong.</summary>
    public string? Validate()
    {
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) return $"--lr: learning rate must be > 0 and finite (got {LearningRate}); e.g. --lr 0.001";
        if (Momentum is < 0 or >= 1 || double.IsNaN(Momentum)) return $"--momentum must be in [0, 1) (got {Momentum}); e.g. --momentum 0.9";
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) return $"--weight-decay must be >= 0 and finite (got {WeightDecay}); use 0 for none";
        if (StepEpochs < 1) return $"Optimizer:StepEpochs must be >= 1 (got {StepEpochs})";
        if (!(Gamma > 0) || double.IsInfinity(Gamma)) return $"Optimizer:Gamma must be > 0 and finite (got {Gamma})";
        if (WarmupSteps < 0) return $"--warmup steps must be >= 0 (got {WarmupSteps}); use 0 for none";
        return null;
    }
}

/// <summary>
/// The learning rate as a pure function of the global step, so a resumed run continues the schedule
/// exactly from its step count without any scheduler state to save.
/// </summary>
public static class LearningRateSchedule
{
    public static double At(OptimizerOptions o, long step, long stepsPerEpoch, long totalSteps)
    {
        double lr = o.Schedule switch
        {
            LearningRateScheduleKind.Cosine => 0.5 * o.LearningRate * (1 + Math.Cos(Math.PI * Math.Min(step, totalSteps) / Math.Max(1, totalSteps))),
            LearningRateScheduleKind.Step => o.LearningRate * Math.Pow(o.Gamma, step / Math.Max(1, stepsPerEpoch) / o.StepEpochs),
            _ => o.LearningRate,
        };
        if (o.WarmupSteps > 0 && step < o.WarmupSteps) lr *= (step + 1) / (double)o.WarmupSteps;
        return lr;
    }
}
