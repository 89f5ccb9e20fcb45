using P2PDistill.Coordinator.Actors;

namespace P2PDistill.Tests.Coordinator;

/// <summary>The one policy behind the coordinator's train / wait / stop decisions at a step boundary.</summary>
[Trait("Category", "Unit")]
public sealed class CohortPolicySpecs
{
    private static readonly CohortPolicy Wait = new(minStudents: 2, TeacherLostPolicy.Wait);
    private static readonly CohortPolicy ContinueMl = new(minStudents: 2, TeacherLostPolicy.ContinueMl);

    [Theory]
    [InlineData(true, 2, true)]
    [InlineData(true, 3, true)]
    [InlineData(true, 1, false)]
    [InlineData(false, 2, false)]
    [InlineData(false, 5, false)]
    public void Should_start_only_with_a_teacher_and_min_students(bool teacher, int students, bool train)
    {
        var decision = Wait.Decide(new CohortView(teacher, students, TrainingStarted: false, StopRequested: false));

        Assert.Equal(train, decision is CohortDecision.Train);
    }

    [Fact]
    public void Should_say_what_is_missing_before_the_start()
    {
        var decision = Assert.IsType<CohortDecision.Wait>(Wait.Decide(new CohortView(false, 1, false, false)));

        Assert.Contains("a teacher and 2 student(s)", decision.Why);
        Assert.Contains("have no teacher and 1", decision.Why);
    }

    [Fact]
    public void Should_go_on_with_fewer_than_min_students_once_training_has_started()
    {
        Assert.IsType<CohortDecision.Train>(Wait.Decide(new CohortView(true, 1, TrainingStarted: true, false)));
    }

    [Fact]
    public void Should_pause_without_a_teacher_under_wait()
    {
        var decision = Assert.IsType<CohortDecision.Wait>(Wait.Decide(new CohortView(false, 2, true, false)));

        Assert.Contains("teacher-lost policy: wait", decision.Why);
    }

    [Fact]
    public void Should_go_on_without_a_teacher_under_continue_ml()
    {
        Assert.IsType<CohortDecision.Train>(ContinueMl.Decide(new CohortView(false, 2, true, false)));
    }

    [Theory]
    [InlineData(TeacherLostPolicy.Wait)]
    [InlineData(TeacherLostPolicy.ContinueMl)]
    public void Should_pause_when_no_student_is_left(TeacherLostPolicy teacherLost)
    {
        var decision = new CohortPolicy(1, teacherLost).Decide(new CohortView(true, 0, true, false));

        Assert.Equal("no student in the cohort", Assert.IsType<CohortDecision.Wait>(decision).Why);
    }

    [Theory]
    [InlineData(true, 2, true)]
    [InlineData(false, 0, false)]
    [InlineData(false, 0, true)]
    public void Should_stop_when_asked_whatever_the_cohort(bool teacher, int students, bool started)
    {
        Assert.IsType<CohortDecision.Stop>(Wait.Decide(new CohortView(teacher, students, started, StopRequested: true)));
    }

    [Fact]
    public void Should_treat_min_students_below_one_as_one()
    {
        Assert.Equal(1, new CohortPolicy(0, TeacherLostPolicy.Wait).MinStudents);
        Assert.IsType<CohortDecision.Wait>(new CohortPolicy(0, TeacherLostPolicy.Wait).Decide(new CohortView(true, 0, false, false)));
    }
}
