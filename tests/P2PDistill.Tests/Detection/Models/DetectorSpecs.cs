using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Models;

[Trait("Category", "Unit")]
public sealed class DetectorSpecs
{
    [Theory]
    [InlineData("det-teacher", 3, 64, 64)]
    [InlineData("det-student", 3, 64, 64)]
    [InlineData("det-student", 3, 96, 96)]
    [InlineData("det-student", 1, 32, 48)]
    public void Should_output_one_row_per_location_of_both_levels(string name, int channels, int height, int width)
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.Create(name, new ModelSpec(channels, height, width, 2));
        model.eval();
        using var noGrad = no_grad();

        var map = model.forward(randn(2, channels, height, width));

        var layout = new DetectionLayout(2, height, width);
        Assert.Equal(height / 8 * (width / 8) + height / 16 * (width / 16), layout.Locations);
        Assert.Equal([2L, layout.Locations, 2 + 4 * DetectionLayout.DefaultBins], map.shape);
        Assert.True(map.isfinite().all().item<bool>());
    }

    [Fact]
    public void Should_predict_each_image_of_a_batch_on_its_own_in_evaluation()
    {
        // Group norm is per sample and batch norm uses running statistics in evaluation: another image must not change this one's map.
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.Create("det-student", new ModelSpec(3, 64, 64, 2));
        model.eval();
        using var noGrad = no_grad();
        var a = randn(2, 3, 64, 64);
        var b = a.clone();
        b[1] = randn(3, 64, 64);

        var (ma, mb) = (model.forward(a), model.forward(b));

        Assert.True((ma[0] - mb[0]).abs().max().item<float>() < 1e-6f);
        Assert.True((ma[1] - mb[1]).abs().max().item<float>() > 1e-4f);
    }

    [Theory]
    [InlineData("det-teacher", 32, 96, 2)]
    [InlineData("det-student", 8, 32, 1)]
    public void Should_have_the_parameters_its_description_gives(string name, int w, int f, int headConvs)
    {
        const int cin = 3, classes = 2, bins = DetectionLayout.DefaultBins;
        static long Block(long a, long b) => 9 * a * b + 2 * b;
        long expected = Block(cin, w) + Block(w, w) + Block(w, 2 * w) + Block(2 * w, 4 * w) + Block(4 * w, 8 * w)
            + (4 * w * f + f) + (8 * w * f + f) + 2 * (9L * f * f + f)
            + headConvs * (9L * f * f + f + 2 * f)
            + (9L * f * classes + classes) + (9L * f * 4 * bins + 4 * bins);

        using var model = ModelRegistry.Create(name, new ModelSpec(cin, 64, 64, classes));

        Assert.Equal(expected, ModelRegistry.ParameterCount(model));
    }

    [Fact]
    public void Should_initialise_its_group_norms_without_a_generator()
    {
        // TorchSharp 0.107 leaves GroupNorm's affine parameters uninitialised; a detector built without ModelInit must still be sane.
        for (int i = 0; i < 3; i++)
        {
            using var model = ModelRegistry.Create("det-teacher", new ModelSpec(3, 32, 32, 2));
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.StartsWith("head.", StringComparison.Ordinal) && !p.name.EndsWith("0.weight", StringComparison.Ordinal) && !p.name.EndsWith("0.bias", StringComparison.Ordinal)))
                Assert.True(p.abs().max().item<float>() <= 1f, $"{name} is {p.abs().max().item<float>()}");
        }
    }

    [Fact]
    public void Should_start_every_class_score_at_the_focal_prior_after_seeded_initialisation()
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.Create("det-student", new ModelSpec(3, 64, 64, 2));
        using var generator = new Generator(7, CPU);
        ModelInit.Apply(model, generator);
        model.eval();
        using var noGrad = no_grad();

        var scores = model.forward(randn(2, 3, 64, 64))[.., .., ..2].sigmoid();

        Assert.InRange(scores.mean().item<float>(), 0.008f, 0.012f);
        Assert.True(scores.max().item<float>() < 0.05f);
    }

    [Fact]
    public void Should_draw_its_weights_from_its_own_generator()
    {
        using var scope = NewDisposeScope();
        float[] Weights(ulong seed)
        {
            using var model = ModelRegistry.Create("det-student", new ModelSpec(3, 32, 32, 2));
            torch.manual_seed((long)seed + 100); // the process-wide generator must not matter
            using var generator = new Generator(seed, CPU);
            ModelInit.Apply(model, generator);
            return model.parameters().SelectMany(p => p.detach().data<float>().ToArray()).ToArray();
        }

        Assert.Equal(Weights(3), Weights(3));
        Assert.NotEqual(Weights(3), Weights(4));
    }

    [Fact]
    public void Should_pass_gradients_to_every_parameter()
    {
        using var scope = NewDisposeScope();
        using var model = ModelRegistry.Create("det-student", new ModelSpec(3, 32, 32, 2));
        model.train();

        model.forward(randn(2, 3, 32, 32)).square().sum().backward();

        Assert.All(model.parameters(), p => Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0));
    }

    [Fact]
    public void Should_keep_detectors_and_classifiers_to_their_own_task()
    {
        Assert.Contains("is a detection model; --task classification takes", ModelRegistry.Validate("det-teacher", new ModelSpec(3, 64, 64, 2)));
        Assert.Contains("is a classification model; --task detection takes det-student, det-teacher",
            ModelRegistry.Validate("resnet18", new ModelSpec(3, 64, 64, 2), TaskKind.Detection));
        Assert.Null(ModelRegistry.Validate("det-student", new ModelSpec(3, 64, 64, 1), TaskKind.Detection));
        Assert.Contains("multiples of 16", ModelRegistry.Validate("det-student", new ModelSpec(3, 64, 72, 2), TaskKind.Detection));
        Assert.DoesNotContain("det-", string.Join(",", ModelRegistry.NamesFor(TaskKind.Classification)));
    }
}
