namespace P2PDistill.Shared.Training;

/// <summary>Optimizer and learning-rate schedule of one model. Bound from configuration section "Optimizer".</summary>
public sealed class OptimizerOptions
{
    /// <summary>sgd (with momentum), adam or adamw.</summary>
    public string Name { get; set; } = "adam";
    public double LearningRate { get; set; } = 1e-3;
    public double Momentum { get; set; } = 0.9;
    public double WeightDecay { get; set; }

    /// <summary>constant, cosine (to 0 over the run) or step (×Gamma every StepEpochs epochs).</summary>
    public string Schedule { get; set; } = "constant";
    public int StepEpochs { get; set; } = 10;
    public double Gamma { get; set; } = 0.1;
    /// <summary>Linear warm-up over this many steps (0: none).</summary>
    public int WarmupSteps { get; set; }

    public static IReadOnlyList<string> Names { get; } = ["sgd", "adam", "adamw"];
    public static IReadOnlyList<string> Schedules { get; } = ["constant", "cosine", "step"];

    /// <summary>Null when valid, else what is wrong.</summary>
    public string? Validate()
    {
        if (!Names.Contains(Name.ToLowerInvariant())) return $"optimizer '{Name}' is unknown; known: {string.Join(", ", Names)}";
        if (!Schedules.Contains(Schedule.ToLowerInvariant())) return $"schedule '{Schedule}' is unknown; known: {string.Join(", ", Schedules)}";
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) return $"learning rate must be > 0 (got {LearningRate})";
        if (Momentum is < 0 or >= 1) return $"momentum must be in [0, 1) (got {Momentum})";
        if (!(WeightDecay >= 0)) return $"weight decay must be >= 0 (got {WeightDecay})";
        if (StepEpochs < 1) return $"step-epochs must be >= 1 (got {StepEpochs})";
        if (!(Gamma > 0)) return $"gamma must be > 0 (got {Gamma})";
        if (WarmupSteps < 0) return $"warmup steps must be >= 0 (got {WarmupSteps})";
        return null;
    }

    public OptimizerOptions Clone() => (OptimizerOptions)MemberwiseClone();
}

/// <summary>
/// The learning rate as a pure function of the global step, so a resumed run continues the schedule
/// exactly from its step count without any scheduler state to save.
/// </summary>
public static class LearningRateSchedule
{
    public static double At(OptimizerOptions o, long step, long stepsPerEpoch, long totalSteps)
    {
        double lr = o.Schedule.ToLowerInvariant() switch
        {
            "cosine" => 0.5 * o.LearningRate * (1 + Math.Cos(Math.PI * Math.Min(step, totalSteps) / Math.Max(1, totalSteps))),
            "step" => o.LearningRate * Math.Pow(o.Gamma, step / Math.Max(1, stepsPerEpoch) / o.StepEpochs),
            _ => o.LearningRate,
        };
        if (o.WarmupSteps > 0 && step < o.WarmupSteps) lr *= (step + 1) / (double)o.WarmupSteps;
        return lr;
    }
}
