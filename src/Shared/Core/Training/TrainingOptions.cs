using P2PDistill.Shared.Losses;

namespace P2PDistill.Shared.Training;

/// <summary>The cohort and the run. Bound from configuration section "Training".</summary>
public sealed class TrainingOptions
{
    public string TeacherModel { get; set; } = "cnn-teacher";
    public string StudentModel { get; set; } = "cnn-student";
    /// <summary>Students trained by the single-process and embedded runners.</summary>
    public int Students { get; set; } = 2;

    public int Epochs { get; set; } = 1;
    public int BatchSize { get; set; } = 128;
    /// <summary>Stop each epoch after this many steps (0: the whole epoch). For quick runs and tests.</summary>
    public int MaxStepsPerEpoch { get; set; }
    public long Seed { get; set; } = 1;

    /// <summary>independent, kd, ml or kd-ml.</summary>
    public string Mode { get; set; } = "kd-ml";
    public double WeightCe { get; set; } = 1.0;
    public double Alpha { get; set; } = 1.0;
    public double Beta { get; set; } = 1.0;
    /// <summary>Sets both temperatures when given (TemperatureKd / TemperatureMl override it).</summary>
    public double? Temperature { get; set; }
    public double? TemperatureKd { get; set; }
    public double? TemperatureMl { get; set; }

    /// <summary>Evaluate every model and the student ensemble every N epochs (the last epoch always).</summary>
    public int EvalEveryEpochs { get; set; } = 1;

    /// <summary>Intra-op threads for TorchSharp in this process (0: cores divided by the models hosted).</summary>
    public int Threads { get; set; }

    /// <summary>Also checkpoint every N steps (0: only at the end of each epoch).</summary>
    public int CheckpointEverySteps { get; set; }

    /// <summary>Checkpoints kept; older ones are deleted.</summary>
    public int KeepCheckpoints { get; set; } = 3;

    /// <summary>Parent folder of run directories.</summary>
    public string OutputDirectory { get; set; } = "runs";
    /// <summary>Run name (default: a timestamp).</summary>
    public string? RunName { get; set; }

    public DistillationSettings Distillation => new(
        DistillModes.Parse(Mode),
        WeightCe,
        Alpha,
        Beta,
        TemperatureKd ?? Temperature ?? 1.0,
        TemperatureMl ?? Temperature ?? 1.0);

    /// <summary>
    /// Every problem with these settings, each naming the command-line flag (and so the Training:* key), the value given
    /// and what to give instead. Empty when the settings are valid.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Epochs < 1) errors.Add($"--epochs must be >= 1 (got {Epochs}); give the number of epochs to train, e.g. --epochs 1");
        if (BatchSize < 1) errors.Add($"--batch-size must be >= 1 (got {BatchSize}); give the images per step, e.g. --batch-size 128");
        if (Students < 1) errors.Add($"--students must be >= 1 (got {Students}); give the number of students, e.g. --students 2");
        if (MaxStepsPerEpoch < 0) errors.Add($"--max-steps must be >= 0 (got {MaxStepsPerEpoch}); use 0 for whole epochs");
        if (EvalEveryEpochs < 1) errors.Add($"--eval-every must be >= 1 (got {EvalEveryEpochs}); use 1 to evaluate after every epoch");
        if (Threads < 0) errors.Add($"--threads must be >= 0 (got {Threads}); use 0 for all cores");
        if (CheckpointEverySteps < 0) errors.Add($"--checkpoint-every must be >= 0 (got {CheckpointEverySteps}); use 0 to checkpoint at the end of each epoch only");
        if (KeepCheckpoints < 1) errors.Add($"--keep-checkpoints must be >= 1 (got {KeepCheckpoints}); the newest checkpoint is always kept");
        // Temperatures: name the flag that was actually given (--temperature sets both).
        foreach (var (flag, value) in new[] { ("temperature", Temperature), ("temperature-kd", TemperatureKd), ("temperature-ml", TemperatureMl) })
            if (value is { } t && (!(t > 0) || double.IsInfinity(t)))
                errors.Add($"--{flag} must be > 0 and finite (got {t}); 1 is the default, 4 is common for offline distillation");
        foreach (var (flag, value) in new[] { ("weight-ce", WeightCe), ("alpha", Alpha), ("beta", Beta) })
            if (!(value >= 0) || double.IsInfinity(value))
                errors.Add($"--{flag} must be >= 0 and finite (got {value}); use 0 to switch the term off (or choose it with --mode)");
        try
        {
            DistillModes.Parse(Mode);
        }
        catch (ArgumentException e)
        {
            errors.Add($"--mode: {e.Message}");
        }
        foreach (var (what, name) in new[] { ("teacher-model", TeacherModel), ("student-model", StudentModel) })
            if (!Models.ModelRegistry.IsKnown(name))
                errors.Add($"--{what}: unknown model '{name}'. Known models: {string.Join(", ", Models.ModelRegistry.Names)}.");
        return errors;
    }

    /// <summary>The seed of the model in cohort slot <paramref name="slot"/> (0 = teacher, 1.. = students): the same in every runner.</summary>
    public static long ModelSeed(long runSeed, int slot) => unchecked(runSeed * 1_000_003L + slot * 7919L + 17L) & 0x7FFF_FFFF_FFFFL;
}
