using P2PDistill.Shared.Metrics;

namespace P2PDistill.Tests.Metrics;

[Trait("Category", "Unit")]
public sealed class SoftmaxSpecs
{
    [Fact]
    public void Should_normalise_each_row()
    {
        var p = Softmax.Rows([0f, 0f, 0f, 1f, 2f, 3f], 3);

        for (var k = 0; k < 3; k++) Assert.Equal(1f / 3, p[k], 1e-6f);
        var z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.Equal((float)(Math.Exp(1) / z), p[3], 1e-6f);
        Assert.Equal((float)(Math.Exp(3) / z), p[5], 1e-6f);
    }

    [Fact]
    public void Should_not_overflow_on_large_logits()
    {
        var p = Softmax.Rows([1000f, 1000f, -1000f], 3);

        Assert.Equal([0.5f, 0.5f, 0f], p);
    }

    [Fact]
    public void Should_reject_a_length_not_divisible_by_the_class_count()
    {
        Assert.Throws<ArgumentException>(() => Softmax.Rows(new float[5], 2));
    }
}
