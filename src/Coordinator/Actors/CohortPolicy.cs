using System.ComponentModel;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Coordinator.Actors;

/// <summary>What to do when the teacher is lost mid-run (DESIGN.md §6). Written wait or continue-ml.</summary>
[TypeConverter(typeof(TeacherLostPolicyConverter))]
public enum TeacherLostPolicy
{
    /// <summary>Pause until a teacher registers again.</summary>
    Wait,
    /// <summary>Go on with the students, mutual learning only.</summary>
    ContinueMl,
}

public sealed class TeacherLostPolicyConverter() : SettingEnumConverter<TeacherLostPolicy>(
    (TeacherLostPolicy.Wait, "wait", []), (TeacherLostPolicy.ContinueMl, "continue-ml", []));

/// <summary>The cohort as the policy sees it at a step boundary.</summary>
/// <param name="Teacher">Whether a teacher is in the cohort (admitted and ready).</param>
/// <param name="Students">How many students are in the cohort.</param>
/// <param name="TrainingStarted">Whether any step of this run (or of the run it resumes) has been started.</param>
/// <param name="StopRequested">Whether the host asked the run to stop (Ctrl+C, SIGTERM).</param>
public readonly record struct CohortView(bool Teacher, int Students, bool TrainingStarted, bool StopRequested);

/// <summary>The policy's answer at a step boundary.</summary>
public abstract record CohortDecision
{
    private CohortDecision() { }

    /// <summary>Run the next step with the cohort as it is.</summary>
    public sealed record Train : CohortDecision
    {
        public static Train Instance { get; } = new();
    }

    /// <summary>Wait (before the first step) or pause (later) until the cohort is complete again.</summary>
    public sealed record Wait(string Why) : CohortDecision;

    /// <summary>Stop the run cleanly: a final checkpoint of the models that are alive, then the end.</summary>
    public sealed record Stop(string Why) : CohortDecision;
}

/// <summary>
/// The one place where the teacher-lost, min-students and stop decisions are made (the shape of Ray Train's
/// <c>FailurePolicy</c>): the coordinator asks at every step boundary and acts on the decision.
/// <list type="bullet">
/// <item>A stop request wins over everything.</item>
/// <item>Before the first step, training waits for a teacher and <c>--min-students</c> students.</item>
/// <item>Once training has started, it goes on (or resumes after a pause) with at least one student and, under the
/// <c>wait</c> teacher-lost policy, a teacher; <c>continue-ml</c> goes on without the teacher.</item>
/// </list>
/// </summary>
public sealed class CohortPolicy(int minStudents, TeacherLostPolicy teacherLost)
{
    public int MinStudents { get; } = Math.Max(1, minStudents);
    public TeacherLostPolicy TeacherLost { get; } = teacherLost;

    public CohortDecision Decide(CohortView cohort)
    {
        if (cohort.StopRequested) return new CohortDecision.Stop("stop requested");
        if (!cohort.TrainingStarted)
        {
            if (!cohort.Teacher || cohort.Students < MinStudents)
                return new CohortDecision.Wait($"waiting for {(cohort.Teacher ? "" : "a teacher and ")}{MinStudents} student(s) to start " +
                                               $"(have {(cohort.Teacher ? "the teacher" : "no teacher")} and {cohort.Students})");
            return CohortDecision.Train.Instance;
        }
        if (!cohort.Teacher && TeacherLost == TeacherLostPolicy.Wait)
            return new CohortDecision.Wait("no teacher in the cohort (teacher-lost policy: wait)");
        if (cohort.Students == 0)
            return new CohortDecision.Wait("no student in the cohort");
        return CohortDecision.Train.Instance;
    }
}
