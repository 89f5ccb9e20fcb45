using P2PDistill.Coordinator.Actors;

namespace P2PDistill.Coordinator.Hosting;

/// <summary>How the coordinator runs. Bound from configuration section "Run"; immutable.</summary>
public sealed record ClusterRunOptions
{
    /// <summary>Train the cohort in one loop in this process, without actors (the reference runner).</summary>
    public bool SingleProcess { get; init; }

    /// <summary>Host the coordinator and every model actor in this process, one actor system, no network.</summary>
    public bool Embedded { get; init; }

    /// <summary>Continue the interrupted run in this run directory from its newest good checkpoint.</summary>
    public string? Resume { get; init; }

    /// <summary>Students that must have registered (with a teacher) before training starts.</summary>
    public int MinStudents { get; init; } = 2;

    /// <summary>A model that does not answer a step half within this many seconds leaves the cohort.</summary>
    public double StepTimeoutSeconds { get; init; } = 60;

    /// <summary>A model that does not finish an evaluation within this many seconds is left out of it.</summary>
    public double EvalTimeoutSeconds { get; init; } = 600;

    /// <summary>wait (pause until a teacher registers) or continue-ml.</summary>
    public TeacherLostPolicy TeacherLost { get; init; } = TeacherLostPolicy.Wait;

    /// <summary>folded (the teacher's fast path and one round trip per step) or classic (two round trips); the same math.</summary>
    public StepProtocol StepProtocol { get; init; } = StepProtocol.Folded;

    /// <summary>Folded protocol: steps the teacher may run ahead of the students (0: it gets step s+1 with the students' fold of step s); the classic protocol ignores it.</summary>
    public int TeacherLookahead { get; init; } = CoordinatorSettings.DefaultTeacherLookahead;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (SingleProcess && Embedded) errors.Add("--single-process and --embedded exclude each other");
        if (Resume is not null && SingleProcess) errors.Add("--resume works with the cluster and embedded runners, not --single-process");
        if (Resume is not null && !Directory.Exists(Resume)) errors.Add($"resume: run directory '{Resume}' does not exist");
        if (MinStudents < 1) errors.Add($"min-students must be >= 1 (got {MinStudents})");
        if (!(StepTimeoutSeconds > 0)) errors.Add($"step-timeout must be > 0 seconds (got {StepTimeoutSeconds})");
        if (!(EvalTimeoutSeconds > 0)) errors.Add($"eval-timeout must be > 0 seconds (got {EvalTimeoutSeconds})");
        if (TeacherLookahead is < 0 or > CoordinatorSettings.MaxTeacherLookahead)
            errors.Add($"teacher-lookahead must be between 0 and {CoordinatorSettings.MaxTeacherLookahead} steps (got {TeacherLookahead})");
        return errors;
    }

    public CoordinatorSettings Settings(int minStudents) => new(
        minStudents, TimeSpan.FromSeconds(StepTimeoutSeconds), TimeSpan.FromSeconds(EvalTimeoutSeconds),
        TeacherLost, FrozenAfter: CoordinatorSettings.DefaultFrozenAfter, Protocol: StepProtocol, TeacherLookahead: TeacherLookahead);
}
