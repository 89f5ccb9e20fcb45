using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// The proof that the distributed runtime computes the paper's method for detection too: the embedded runner, every message
/// through its serializer (boxes in the batches, dense maps, per-location targets), against the single-process cohort trainer.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class DetectionEquivalenceSpecs(ITestOutputHelper output)
{
    /// <summary>2 epochs of 10 steps of 16 images of 3x64x64 (crops and flips move the boxes), teacher + 2 students, kd-ml, 2 classes.</summary>
    private static TrainingPlan Plan()
    {
        var splits = SyntheticDetectionDataset.Load(160, 32, 64, 3, seed: 7).ToDatasetSplits();
        var training = new TrainingOptions
        {
            Task = TaskKind.Detection, TeacherModel = "det-student", StudentModel = "det-student", Students = 2, Epochs = 2,
            BatchSize = 16, Mode = DistillMode.KdMl, Seed = 11,
        };
        var data = new DataOptions { Dataset = "synthetic-detection", CropPadding = 4, HorizontalFlip = true };
        return new TrainingPlan(training, data, splits, DatasetStatistics.Compute(splits.Train), new OptimizerOptions { LearningRate = 3e-3 });
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)] // the teacher runs up to 3 steps ahead of the students (issue 14), across the evaluation after step 10
    public async Task Should_give_the_single_process_losses_and_weights_after_20_detection_steps(int teacherLookahead)
    {
        var plan = Plan();
        Assert.Equal(20, plan.TotalSteps);

        var reference = new Recorder();
        Dictionary<string, float[]> referenceWeights;
        using (var cohort = new CohortTrainer(plan, NullLogger.Instance))
        {
            var single = cohort.Run(reference);
            Assert.True(single.Completed, single.StopReason);
            referenceWeights = cohort.Trainers.ToDictionary(t => t.Id, t => t.FlatParameters());
        }

        var (result, recorder, weights) = await TestCohorts.RunEmbeddedWithWeights(plan, teacherLookahead, "det-student", "det-student", "det-student");

        Assert.True(result.Completed, result.StopReason);
        Assert.Equal(20, recorder.Steps.Count);
        // Every part of every model's loss, at every step; the students learn from the teacher and each other.
        reference.AssertSameLosses(recorder, 1e-5);
        var students = recorder.Steps.SelectMany(s => s.Models).Where(m => m.Role == ModelRole.Student).ToList();
        Assert.Equal(40, students.Count);
        Assert.All(students, m => Assert.True(m.Loss.Kd > 0 && m.Loss.Ml > 0, $"{m.Id}: {m.Loss}"));
        Assert.All(recorder.Steps, r => Assert.True(r.BytesSent > 0 && r.BytesReceived > 0));
        output.WriteLine($"bytes per step: sent {recorder.Steps.Min(r => r.BytesSent):N0}..{recorder.Steps.Max(r => r.BytesSent):N0}, " +
                         $"received {recorder.Steps.Min(r => r.BytesReceived):N0}..{recorder.Steps.Max(r => r.BytesReceived):N0}, " +
                         $"mean total {recorder.Steps.Average(r => r.BytesSent + r.BytesReceived):N0}");

        Assert.Equal(referenceWeights.Keys.Order(), weights.Keys.Order());
        foreach (var (id, p) in weights)
        {
            Assert.Equal(20, p.StepsApplied);
            var expected = referenceWeights[id];
            Assert.Equal(expected.Length, p.Values.Length);
            var worst = expected.Zip(p.Values).Max(x => Math.Abs(x.First - x.Second));
            output.WriteLine($"{id}: largest weight difference {worst}");
            Assert.True(worst <= 1e-5, $"{id}: largest weight difference {worst}");
        }

        // Both evaluations scored every model and the ensemble by mAP from the probability maps that crossed the wire.
        Assert.Equal(2, recorder.Evaluations.Count);
        for (int e = 0; e < 2; e++)
        {
            var (expected, actual) = (reference.Evaluations[e], recorder.Evaluations[e]);
            var ensemble = Assert.IsType<DetectionMetrics>(actual.StudentEnsemble);
            Assert.Equal(32, ensemble.Images);
            Assert.Equal(expected.Models.Select(m => m.Id).Order(), actual.Models.Select(m => m.Id).Order());
            output.WriteLine($"evaluation {e + 1}: ensemble {expected.StudentEnsemble!.HeadlineName} {expected.StudentEnsemble.Headline} single-process, {actual.StudentEnsemble!.Headline} embedded");
            Assert.Equal(expected.StudentEnsemble.Headline, actual.StudentEnsemble.Headline, 1e-6);
        }
    }
}
