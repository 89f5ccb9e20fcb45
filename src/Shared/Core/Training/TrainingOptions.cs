using P2PDistill.Shared.Losses;

namespace P2PDistill.Shared.Training;

/// <summary>
/// The cohort and the run. Bound from configuration section "Training", once, at the boundary; immutable after that (derive
/// a variant with <c>with</c>).
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>What the cohort learns: classification (default) or detection.</summary>
    /// <remarks>
    /// Declared first: configuration binding reads each property's current value and writes it back, so the defaults that
    /// depend on the task (<see cref="TeacherModel"/>, <see cref="StudentModel"/>) must see the bound task.
    /// </remarks>
    public Settings.TaskKind Task { get; init; } = Settings.TaskKind.Classification;

    private readonly string? teacherModel, studentModel;

    /// <summary>The teacher's architecture (default cnn-teacher; det-teacher for detection).</summary>
    public string TeacherModel { get => teacherModel ?? (Task == Settings.TaskKind.Detection ? "det-teacher" : "cnn-teacher"); init => teacherModel = value; }

    /// <summary>Every student's architecture unless <see cref="StudentModels"/> says otherwise (default cnn-student; det-student for detection).</summary>
    public string StudentModel { get => studentModel ?? (Task == Settings.TaskKind.Detection ? "det-student" : "cnn-student"); init => studentModel = value; }

    /// <summary>
    /// A heterogeneous cohort: the students' architectures, one per student slot in order and repeated when there are more
    /// students (--student-models a,b). Empty: every student is <see cref="StudentModel"/>.
    /// </summary>
    public string[] StudentModels { get; init; } = [];

    /// <summary>The architecture of the student in cohort slot <paramref name="slot"/> (1, 2, ...).</summary>
    public string StudentModelOf(int slot) => StudentModels.Length > 0 ? StudentModels[(slot - 1) % StudentModels.Length] : StudentModel;

    /// <summary>The students as people read them: "2 x cnn-student", or "cnn-student, resnet18" for a mixed cohort.</summary>
    public string StudentsDescription(int students) => StudentModels.Length > 0
        ? string.Join(", ", Enumerable.Range(1, students).Select(StudentModelOf))
        : $"{students} x {StudentModel}";
    /// <summary>Students trained by the single-process and embedded runners.</summary>
    public int Students { get; init; } = 2;

    public int Epochs { get; init; } = 1;
    public int BatchSize { get; init; } = 128;
    /// <summary>Stop each epoch after this many steps (0: the whole epoch). For quick runs and tests.</summary>
    public int MaxStepsPerEpoch { get; init; }
    public long Seed { get; init; } = 1;

    /// <summary>independent, kd, ml or kd-ml.</summary>
    public DistillMode Mode { get; init; } = DistillMode.KdMl;
    public double WeightCe { get; init; } = 1.0;
    public double Alpha { get; init; } = 1.0;
    public double Beta { get; init; } = 1.0;
    /// <summary>Sets both temperatures when given (TemperatureKd / TemperatureMl override it).</summary>
    public double? Temperature { get; init; }
    public double? TemperatureKd { get; init; }
    public double? TemperatureMl { get; init; }

    /// <summary>Ramp alpha and beta up over this many epochs (a sigmoid, as in mean teacher and PCL; 0: full weight from the first step).</summary>
    public double RampUpEpochs { get; init; }

    /// <summary>Evaluate every model and the student ensemble every N epochs (the last epoch always).</summary>
    public int EvalEveryEpochs { get; init; } = 1;

    /// <summary>Intra-op threads for TorchSharp in this process (0: cores divided by the models hosted).</summary>
    public int Threads { get; init; }

    /// <summary>Also checkpoint every N steps (0: only at the end of each epoch).</summary>
    public int CheckpointEverySteps { get; init; }

    /// <summary>Checkpoints kept; older ones are deleted.</summary>
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>Parent folder of run directories.</summary>
    public string OutputDirectory { get; init; } = "runs";
    /// <summary>Run name (default: a timestamp).</summary>
    public string? RunName { get; init; }

    public DistillationSettings Distillation => new(
        Mode,
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
        if (!(RampUpEpochs >= 0) || double.IsInfinity(RampUpEpochs)) errors.Add($"--rampup-epochs must be >= 0 and finite (got {RampUpEpochs}); use 0 for no ramp-up");
        if (Threads < 0) errors.Add($"--threads must be >= 0 (got {Threads}); use 0 for all cores");
        if (CheckpointEverySteps < 0) errors.Add($"--checkpoint-every must be >= 0 (got {CheckpointEverySteps}); use 0 to checkpoint at the end of each epoch only");
        if (KeepCheckpoints < 1) errors.Add($"--keep-checkpoints must be >= 1 (got {KeepCheckpoints}); the newest checkpoint is always kept");
        // Temperatures: name the flag that was actually given (--temperature sets both).
        foreach (var (flag, value) in new[] { ("temperature", Temperature), ("temperature-kd", TemperatureKd), ("temperature-ml", TemperatureMl) })
            if (value is { } t && DistillationSettings.TemperatureProblem(flag, t) is { } problem) errors.Add(problem);
        foreach (var (flag, value) in new[] { ("weight-ce", WeightCe), ("alpha", Alpha), ("beta", Beta) })
            if (DistillationSettings.WeightProblem(flag, value) is { } problem) errors.Add(problem);
        foreach (var (what, name) in new[] { ("teacher-model", TeacherModel), ("student-model", StudentModel) }.Concat(StudentModels.Select(m => ("student-models", m))))
            if (!Models.ModelRegistry.IsKnown(name))
                errors.Add($"--{what}: unknown model '{name}'. Known models: {string.Join(", ", Models.ModelRegistry.Names)}.");
        return errors;
    }

    /// <summary>The seed of the model in cohort slot <paramref name="slot"/> (0 = teacher, 1.. = students): the same in every runner.</summary>
    public static long ModelSeed(long runSeed, int slot) => unchecked(runSeed * 1_000_003L + slot * 7919L + 17L) & 0x7FFF_FFFF_FFFFL;
}
