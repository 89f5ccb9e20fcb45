using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Detection.Training;

/// <summary>The single-process cohort trainer runs the detection task: same loop, same schedule, the task's losses and metrics.</summary>
[Trait("Category", "Unit")]
public sealed class DetectionCohortSpecs
{
    private sealed class Steps : ITrainingObserver
    {
        public List<StepRecord> Records { get; } = [];
        public void OnStep(StepRecord step) => Records.Add(step);
    }

    private static TrainingPlan Plan(DistillMode mode, int steps, int train = 48)
    {
        var d = SyntheticDetectionDataset.Load(train, 16, 64, 3, seed: 5);
        var splits = d.ToDatasetSplits();
        var training = new TrainingOptions
        {
            Task = TaskKind.Detection, TeacherModel = "det-student", StudentModel = "det-student", Students = 2, Epochs = 1,
            BatchSize = 8, MaxStepsPerEpoch = steps, Mode = mode, Seed = 3,
        };
        var optimizer = new OptimizerOptions { LearningRate = 0.003 };
        return new TrainingPlan(training, new DataOptions { Dataset = "synthetic-detection" }, splits, DatasetStatistics.Compute(splits.Train), optimizer);
    }

    [Fact]
    public void Should_train_a_detector_cohort_and_score_every_model_and_the_ensemble_by_map()
    {
        var steps = new Steps();
        using var trainer = new CohortTrainer(Plan(DistillMode.KdMl, 3), NullLogger.Instance);

        var result = trainer.Run(steps);

        Assert.True(result.Completed, result.StopReason);
        Assert.Equal(3, steps.Records.Count);
        var students = steps.Records.SelectMany(s => s.Models).Where(m => m.Role == ModelRole.Student).ToList();
        Assert.All(students, m => Assert.True(m.Loss.Kd > 0 && m.Loss.Ml > 0 && m.Loss.IsFinite, $"{m.Id}: {m.Loss}"));
        var final = result.Final!;
        Assert.Equal(3, final.Models.Count);
        Assert.All(final.Models, m => Assert.IsType<DetectionMetrics>(m.Metrics));
        var ensemble = Assert.IsType<DetectionMetrics>(final.StudentEnsemble);
        Assert.Equal(16, ensemble.Images);
        Assert.True(ensemble.GroundTruths >= 16, "every synthetic image holds at least one polyp");
        Assert.NotNull(ensemble.MapAt50);
    }

    [Fact]
    public void Should_lower_the_task_loss_as_it_trains()
    {
        var steps = new Steps();
        using var trainer = new CohortTrainer(Plan(DistillMode.Independent, 24, train: 192), NullLogger.Instance);

        trainer.Run(steps);

        double Mean(IEnumerable<StepRecord> s) => s.SelectMany(r => r.Models).Average(m => m.Loss.Ce);
        var (first, last) = (Mean(steps.Records.Take(4)), Mean(steps.Records.TakeLast(4)));
        Assert.True(last < 0.8 * first, $"task loss {first:F4} over the first 4 steps, {last:F4} over the last 4");
    }

    [Fact]
    public void Should_give_the_same_losses_on_a_second_run()
    {
        double[] Losses()
        {
            var steps = new Steps();
            using var trainer = new CohortTrainer(Plan(DistillMode.KdMl, 2), NullLogger.Instance);
            trainer.Run(steps);
            return steps.Records.SelectMany(s => s.Models).Select(m => m.Loss.Total).ToArray();
        }

        Assert.Equal(Losses(), Losses());
    }
}
