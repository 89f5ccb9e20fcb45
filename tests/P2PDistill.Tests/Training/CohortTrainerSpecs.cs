using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Training;

[Trait("Category", "Unit")]
public sealed class CohortTrainerSpecs
{

    [Fact]
    public void Should_train_teacher_and_students_to_learn_the_synthetic_set()
    {
        var dataOptions = TestCohorts.SyntheticData();
        var data = TestCohorts.Load(dataOptions);
        using var cohort = TestCohorts.Cohort(TestCohorts.Options(epochs: 2), dataOptions, data);
        var recorder = new Recorder();
        var result = cohort.Run(recorder);

        Assert.True(result.Completed);
        Assert.Equal(2 * cohort.StepsPerEpoch, result.Steps);
        Assert.Equal(result.Steps, recorder.Steps.Count);
        Assert.Equal(2, recorder.Evaluations.Count);
        var final = result.Final!;
        Assert.Equal(["teacher", "student-1", "student-2"], final.Models.Select(m => m.Id));
        Assert.All(final.Models, m => Assert.True(m.Metrics.Headline > 0.9, $"{m.Id} accuracy {m.Metrics.Headline}"));
        Assert.NotNull(final.StudentEnsemble);
        // Students got KD and ML terms; the teacher trains on CE only.
        var last = recorder.Steps[^1];
        Assert.All(last.Models.Where(m => m.Role == ModelRole.Student), m => Assert.True(m.Loss.Kd > 0 && m.Loss.Ml > 0));
        Assert.Equal(0, last.Models[0].Loss.Kd);
    }

    [Fact]
    public void Should_repeat_a_run_exactly_for_the_same_seed()
    {
        var dataOptions = TestCohorts.SyntheticData(train: 256);
        var data = TestCohorts.Load(dataOptions);
        double[] Losses()
        {
            using var cohort = TestCohorts.Cohort(TestCohorts.Options(), dataOptions, data);
            var recorder = new Recorder();
            cohort.Run(recorder);
            return recorder.Steps.SelectMany(s => s.Models.Select(m => m.Loss.Total)).ToArray();
        }
        Assert.Equal(Losses(), Losses());
    }

    [Fact]
    public void Should_give_no_distillation_terms_in_independent_mode()
    {
        var dataOptions = TestCohorts.SyntheticData(train: 128);
        var data = TestCohorts.Load(dataOptions);
        using var cohort = TestCohorts.Cohort(TestCohorts.Options(mode: DistillMode.Independent), dataOptions, data);
        var recorder = new Recorder();
        cohort.Run(recorder);
        Assert.All(recorder.Steps.SelectMany(s => s.Models), m => Assert.True(m.Loss.Kd == 0 && m.Loss.Ml == 0 && m.Loss.Total == m.Loss.Ce));
    }

    [Fact]
    public void Should_stop_when_cancelled()
    {
        var dataOptions = TestCohorts.SyntheticData(train: 128);
        var data = TestCohorts.Load(dataOptions);
        using var cohort = TestCohorts.Cohort(TestCohorts.Options(), dataOptions, data);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var result = cohort.Run(null, cts.Token);
        Assert.False(result.Completed);
        Assert.Equal(0, result.Steps);
    }
}

[Trait("Category", "Unit")]
public sealed class LearningCurvesSpecs
{
    [Fact]
    public void Should_average_over_a_trailing_window()
    {
        Assert.Equal(new[] { 1.0, 1.5, 2.5, 3.5 }, P2PDistill.Coordinator.Runs.LearningCurves.MovingAverage([1, 2, 3, 4], 2));
        Assert.Equal(new[] { 2.0 }, P2PDistill.Coordinator.Runs.LearningCurves.MovingAverage([2], 5));
    }
}
