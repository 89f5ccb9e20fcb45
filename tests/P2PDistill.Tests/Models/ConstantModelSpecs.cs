using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Models;

/// <summary>The compute-free <c>constant</c> model of the coordinator benchmark: right shape, and it still learns.</summary>
[Trait("Category", "Unit")]
public sealed class ConstantModelSpecs
{
    [Fact]
    public void Should_output_its_bias_as_one_row_of_logits_per_image()
    {
        using var scope = torch.NewDisposeScope();
        using var model = ModelRegistry.Create("constant", new ModelSpec(1, 28, 28, 4));
        ModelInit.Apply(model, new Generator(3));

        var logits = model.forward(torch.randn(5, 1, 28, 28));

        Assert.Equal([5L, 4L], logits.shape);
        var bias = ((ConstantModel)model).Bias.detach().data<float>().ToArray();
        Assert.Contains(bias, b => b != 0);
        var rows = logits.detach().data<float>().ToArray();
        for (int i = 0; i < 5; i++) Assert.Equal(bias, rows[(i * 4)..(i * 4 + 4)]);
        Assert.Equal(4, ModelRegistry.ParameterCount(model));
        Assert.Null(ModelRegistry.Validate("constant", new ModelSpec(3, 7, 9, 2)));
    }

    [Fact]
    public void Should_learn_a_fixed_label_with_backward_and_an_optimizer_step()
    {
        using var scope = torch.NewDisposeScope();
        using var model = ModelRegistry.Create("constant", new ModelSpec(1, 28, 28, 4));
        ModelInit.Apply(model, new Generator(3));
        var optimizer = optim.Adam(model.parameters(), 0.1);
        var labels = torch.full(8, 2L);
        var input = torch.zeros(8, 1, 28, 28);

        var losses = new List<double>();
        for (int step = 0; step < 20; step++)
        {
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(input), labels);
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        Assert.True(losses[^1] < losses[0] / 2, $"loss {losses[0]} -> {losses[^1]}");
        var bias = ((ConstantModel)model).Bias.detach().data<float>().ToArray();
        Assert.Equal(2, Array.IndexOf(bias, bias.Max()));
    }

    [Fact]
    public void Should_go_through_a_student_step_of_the_trainer_and_move_its_bias()
    {
        var data = TestCohorts.Load(TestCohorts.SyntheticData(train: 64, test: 16));
        using var trainer = new ModelTrainer(TestCohorts.Setup("constant", ModelRole.Student, data, seed: 5));
        var batch = BatchBuilder.Build(data.Train, new BatchPlan(data.Train.Count, 32, 1).Indices(0, 0), AugmentOptions.None, 1, 0, 0);
        var before = trainer.Network.parameters().Single().data<float>().ToArray();

        var logits = trainer.Forward(batch);
        // kd-ml targets as the coordinator builds them: a teacher and one peer with other logits.
        var teacher = Enumerable.Range(0, logits.Length).Select(i => (float)(i % 4)).ToArray();
        var peer = Enumerable.Range(0, logits.Length).Select(i => (float)(3 - i % 4)).ToArray();
        var targets = TargetBuilder.Build(teacher, [logits, peer], 32, 4, trainer.Setup.Distillation.AtStep(0))[0];
        var outcome = trainer.Backward(targets);

        Assert.Equal(32 * 4, logits.Length);
        Assert.True(outcome.Applied);
        Assert.True(outcome.Loss.Kd > 0 && outcome.Loss.Ml > 0, $"KD {outcome.Loss.Kd}, ML {outcome.Loss.Ml}");
        Assert.Equal(1, trainer.StepsApplied);
        Assert.Equal(4, trainer.ParameterCount);
        Assert.NotEqual(before, trainer.Network.parameters().Single().data<float>().ToArray());
    }
}
