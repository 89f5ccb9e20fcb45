using P2PDistill.Shared.Metrics;

namespace P2PDistill.Tests.Metrics;

[Trait("Category", "Unit")]
public sealed class EnsembleSpecs
{
    [Fact]
    public void Should_average_probabilities_element_wise()
    {
        float[] a = [0.2f, 0.8f, 0.6f, 0.4f];
        float[] b = [0.4f, 0.6f, 0.0f, 1.0f];
        float[] c = [0.9f, 0.1f, 0.3f, 0.7f];

        var mean = Ensemble.MeanProbabilities([a, b, c]);

        float[] expected = [0.5f, 0.5f, 0.3f, 0.7f];
        Assert.Equal(expected.Length, mean.Length);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], mean[i], 1e-6f);
    }

    [Fact]
    public void Should_return_a_copy_for_a_single_model()
    {
        float[] a = [0.25f, 0.75f];
        var mean = Ensemble.MeanProbabilities([a]);

        Assert.Equal(a, mean);
        Assert.NotSame(a, mean);
    }

    [Fact]
    public void Should_reject_no_models_and_unequal_lengths()
    {
        Assert.Throws<ArgumentException>(() => Ensemble.MeanProbabilities([]));
        var ex = Assert.Throws<ArgumentException>(() => Ensemble.MeanProbabilities([new float[4], new float[6]]));
        Assert.Contains("perModelProbabilities[1] has 6 values", ex.Message);
    }
}
