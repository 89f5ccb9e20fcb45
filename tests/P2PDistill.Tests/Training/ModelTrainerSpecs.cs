using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;
using TorchSharp;

namespace P2PDistill.Tests.Training;

[Trait("Category", "Unit")]
public sealed class ModelTrainerSpecs : IDisposable
{
    private readonly DatasetSplits data = TestCohorts.Load(TestCohorts.SyntheticData());
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-trainer-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private ImageBatch Batch(int step) => BatchBuilder.Build(data.Train, new BatchPlan(data.Train.Count, 32, 1).Indices(0, step), AugmentOptions.None, 1, 0, step);

    private static float[] Weights(ModelTrainer t) => t.Network.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    private (float[] logits, StepOutcome outcome)[] Train(ModelTrainer t, int from, int steps)
    {
        var result = new (float[], StepOutcome)[steps];
        for (int s = 0; s < steps; s++)
        {
            var logits = t.Forward(Batch(from + s));
            result[s] = (logits, t.Backward(DistillTargets.None));
        }
        return result;
    }

    [Fact]
    public void Should_be_deterministic_for_a_seed_even_with_dropout_and_a_disturbed_global_generator()
    {
        using var a = new ModelTrainer(TestCohorts.Setup("cnn-teacher", ModelRole.Teacher, data, 11));
        using var b = new ModelTrainer(TestCohorts.Setup("cnn-teacher", ModelRole.Teacher, data, 11));
        var ra = Train(a, 0, 3);
        torch.rand(100).Dispose(); // consume the process-wide generator between the two runs
        torch.manual_seed(999);
        var rb = Train(b, 0, 3);
        for (int s = 0; s < 3; s++)
        {
            Assert.Equal(ra[s].logits, rb[s].logits);
            Assert.Equal(ra[s].outcome.Loss, rb[s].outcome.Loss);
        }
        Assert.Equal(Weights(a), Weights(b));
    }

    [Fact]
    public void Should_differ_between_seeds()
    {
        using var a = new ModelTrainer(TestCohorts.Setup("tiny", ModelRole.Teacher, data, 1));
        using var b = new ModelTrainer(TestCohorts.Setup("tiny", ModelRole.Teacher, data, 2));
        Assert.NotEqual(Weights(a), Weights(b));
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Adam)]
    [InlineData(OptimizerKind.AdamW)]
    public void Should_resume_exactly_from_saved_weights_optimizer_and_generator(OptimizerKind optimizer)
    {
        var setup = TestCohorts.Setup("cnn-teacher", ModelRole.Teacher, data, 7, optimizer: optimizer);
        using var original = new ModelTrainer(setup);
        Train(original, 0, 3);
        var files = original.Save(Path.Combine(dir, "teacher"));
        Assert.All(files, f => Assert.True(File.Exists(f)));
        var expected = Train(original, 3, 2);

        using var restored = new ModelTrainer(setup with { Seed = 12345 });
        restored.Load(Path.Combine(dir, "teacher"));
        Assert.Equal(3, restored.StepsApplied);
        var actual = Train(restored, 3, 2);
        for (int s = 0; s < 2; s++) Assert.Equal(expected[s].outcome.Loss, actual[s].outcome.Loss);
        Assert.Equal(Weights(original), Weights(restored));
    }

    /// <summary>
    /// A folded step is applied before the coordinator counted it; a drop takes it back. After <see cref="ModelTrainer.Undo"/>
    /// the network trains on exactly as one that never took the step: weights and optimizer state (momentum, Adam's moments
    /// and step count) are those of before it.
    /// </summary>
    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Adam)]
    [InlineData(OptimizerKind.AdamW)]
    public void Should_take_back_an_undoable_step_exactly(OptimizerKind optimizer)
    {
        var setup = TestCohorts.Setup("tiny", ModelRole.Student, data, 5, optimizer: optimizer);
        using var undone = new ModelTrainer(setup);
        using var never = new ModelTrainer(setup);
        Train(undone, 0, 2);
        Train(never, 0, 2);
        var before = Weights(undone);

        undone.Forward(Batch(2));
        undone.Backward(DistillTargets.None, commit: false);
        undone.CommitUndoable();
        Assert.Equal(3, undone.StepsApplied);
        Assert.NotEqual(before, Weights(undone));
        Assert.True(undone.CanUndo);

        undone.Undo();
        Assert.False(undone.CanUndo);
        Assert.Equal(2, undone.StepsApplied);
        Assert.Equal(before, Weights(undone));

        var a = Train(undone, 3, 2);
        var b = Train(never, 3, 2);
        for (int s = 0; s < 2; s++) Assert.Equal(b[s].outcome.Loss, a[s].outcome.Loss);
        Assert.Equal(Weights(never), Weights(undone));
    }

    [Fact]
    public void Should_keep_a_step_whose_undo_was_let_go()
    {
        using var t = new ModelTrainer(TestCohorts.Setup("tiny", ModelRole.Student, data, 5));
        t.Forward(Batch(0));
        t.Backward(DistillTargets.None, commit: false);
        t.CommitUndoable();
        var after = Weights(t);
        t.ForgetUndo();
        t.Undo(); // nothing to take back
        Assert.Equal(1, t.StepsApplied);
        Assert.Equal(after, Weights(t));
    }

    [Fact]
    public void Should_refuse_a_step_whose_loss_is_not_finite()
    {
        using var student = new ModelTrainer(TestCohorts.Setup("tiny", ModelRole.Student, data, 3));
        var before = Weights(student);
        var logits = student.Forward(Batch(0));
        var bad = new DistillTargets(Enumerable.Repeat(float.NaN, logits.Length).ToArray(), null, null, 0);
        var outcome = student.Backward(bad);
        Assert.False(outcome.Applied);
        Assert.True(double.IsNaN(outcome.Loss.Kd));
        Assert.Equal(before, Weights(student));
        Assert.Equal(0, student.StepsApplied);
    }

    [Fact]
    public void Should_reject_targets_of_the_wrong_shape()
    {
        using var student = new ModelTrainer(TestCohorts.Setup("tiny", ModelRole.Student, data, 3));
        student.Forward(Batch(0));
        var e = Assert.Throws<ArgumentException>(() => student.Backward(new DistillTargets(new float[3], null, null, 0)));
        Assert.Contains("teacher logits", e.Message);
    }

    [Fact]
    public void Should_need_a_forward_before_backward()
    {
        using var t = new ModelTrainer(TestCohorts.Setup("tiny", ModelRole.Teacher, data, 3));
        Assert.Throws<InvalidOperationException>(() => t.Backward(DistillTargets.None));
    }

    [Fact]
    public void Should_predict_probabilities_that_sum_to_one()
    {
        using var t = new ModelTrainer(TestCohorts.Setup("tiny", ModelRole.Teacher, data, 3));
        var probs = t.Predict(BatchBuilder.Build(data.Test, [0, 1, 2]));
        Assert.Equal(3 * data.NumClasses, probs.Length);
        for (int r = 0; r < 3; r++) Assert.Equal(1.0, probs.Skip(r * data.NumClasses).Take(data.NumClasses).Sum(), 5);
    }

    [Fact]
    public void Should_follow_the_learning_rate_schedule()
    {
        var o = new OptimizerOptions { LearningRate = 0.1, Schedule = LearningRateScheduleKind.Cosine };
        Assert.Equal(0.1, LearningRateSchedule.At(o, 0, 10, 100), 12);
        Assert.Equal(0.05, LearningRateSchedule.At(o, 50, 10, 100), 12);
        Assert.Equal(0.0, LearningRateSchedule.At(o, 100, 10, 100), 12);
        var step = new OptimizerOptions { LearningRate = 0.1, Schedule = LearningRateScheduleKind.Step, StepEpochs = 2, Gamma = 0.5 };
        Assert.Equal(0.1, LearningRateSchedule.At(step, 19, 10, 100), 12);
        Assert.Equal(0.05, LearningRateSchedule.At(step, 20, 10, 100), 12);
        var warm = new OptimizerOptions { LearningRate = 0.1, WarmupSteps = 4 };
        Assert.Equal(0.025, LearningRateSchedule.At(warm, 0, 10, 100), 12);
    }
}
