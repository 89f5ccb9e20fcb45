using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Losses;

/// <summary>--rampup-epochs: alpha and beta grow as exp(−5 (1 − t)²) over the first epochs, in every runner.</summary>
[Trait("Category", "Unit")]
public sealed class RampUpSpecs
{
    [Theory]
    [InlineData(0, 0.006737947)]   // exp(−5)
    [InlineData(50, 0.286504797)]  // exp(−1.25)
    [InlineData(90, 0.951229425)]  // exp(−0.05)
    [InlineData(100, 1.0)]
    [InlineData(5000, 1.0)]
    public void Should_follow_the_sigmoid_shaped_ramp_of_mean_teacher(long step, double expected)
    {
        Assert.Equal(expected, new DistillationSettings(RampUpSteps: 100).RampUpWeight(step), 9);
    }

    [Fact]
    public void Should_scale_alpha_and_beta_only_and_leave_settings_without_a_ramp_alone()
    {
        var s = new DistillationSettings(DistillMode.KdMl, WeightCe: 0.5, Alpha: 2, Beta: 3, TemperatureKd: 4, RampUpSteps: 100);

        var early = s.AtStep(50);

        Assert.Equal(2 * Math.Exp(-1.25), early.Alpha, 12);
        Assert.Equal(3 * Math.Exp(-1.25), early.Beta, 12);
        Assert.Equal((0.5, 4.0, DistillMode.KdMl), (early.WeightCe, early.TemperatureKd, early.Mode));
        var none = new DistillationSettings(Alpha: 2);
        Assert.Same(none, none.AtStep(0));
    }

    [Fact]
    public void Should_ramp_over_the_given_epochs_of_the_plan()
    {
        var dataOptions = TestCohorts.SyntheticData(train: 256, test: 32);
        var plan = new TrainingPlan(TestCohorts.Options() with { RampUpEpochs = 1.5 }, dataOptions, TestCohorts.Load(dataOptions),
            Normalization.Identity(1), new OptimizerOptions());

        Assert.Equal(8, plan.StepsPerEpoch);
        Assert.Equal(12, plan.Setup(ModelRole.Student, 1, "tiny").Distillation.RampUpSteps);
        Assert.Contains("--rampup-epochs must be >= 0", string.Join(" ", (new TrainingOptions { RampUpEpochs = -1 }).Validate()));
    }

    [Fact]
    public void Should_weigh_the_kd_and_ml_terms_of_the_first_step_by_the_ramp()
    {
        var data = TestCohorts.Load(TestCohorts.SyntheticData(train: 64, test: 16));
        var batch = BatchBuilder.Build(data.Train, Enumerable.Range(0, 16).ToArray());
        TrainerSetup Setup(long ramp) => TestCohorts.Setup("tiny", ModelRole.Student, data, 11) with
        {
            Distillation = new DistillationSettings(DistillMode.KdMl, RampUpSteps: ramp),
        };
        using var plain = new ModelTrainer(Setup(0));
        using var ramped = new ModelTrainer(Setup(100));
        var logits = plain.Forward(batch);
        Assert.Equal(logits, ramped.Forward(batch));
        var random = new Random(3);
        float[] Random() => Enumerable.Range(0, logits.Length).Select(_ => (float)random.NextDouble() * 4 - 2).ToArray();
        var targets = TargetBuilder.Build(Random(), [logits, Random()], 16, data.NumClasses, new DistillationSettings())[0];

        var a = plain.Backward(targets).Loss;
        var b = ramped.Backward(targets).Loss;

        Assert.Equal((a.Ce, a.Kd, a.Ml), (b.Ce, b.Kd, b.Ml));
        Assert.True(a.Kd > 0 && a.Ml > 0);
        Assert.Equal(a.Ce + a.Kd + a.Ml, a.Total, 4);
        Assert.Equal(a.Ce + Math.Exp(-5) * (a.Kd + a.Ml), b.Total, 4);
    }
}
