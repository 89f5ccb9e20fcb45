using P2PDistill.Shared.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Data;

[Trait("Category", "Unit")]
public sealed class BatchTensorsSpecs
{
    [Fact]
    public void Should_normalise_per_channel_into_an_nchw_float_tensor()
    {
        var shape = new ImageShape(2, 1, 2);
        var batch = new ImageBatch(shape, [0, 255, 51, 102, /* sample 2 */ 255, 0, 0, 255], [1, 0]);
        var norm = new Normalization([0.5f, 0.2f], [0.25f, 0.4f]);

        using var scope = torch.NewDisposeScope();
        var x = BatchTensors.ToTensor(batch, norm);

        Assert.Equal(new long[] { 2, 2, 1, 2 }, x.shape);
        Assert.Equal(ScalarType.Float32, x.dtype);
        var values = x.data<float>().ToArray();
        float[] expected = [(0 - 0.5f) / 0.25f, (1 - 0.5f) / 0.25f, (0.2f - 0.2f) / 0.4f, (0.4f - 0.2f) / 0.4f,
                            (1 - 0.5f) / 0.25f, (0 - 0.5f) / 0.25f, (0 - 0.2f) / 0.4f, (1 - 0.2f) / 0.4f];
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], values[i], 5);
    }

    [Fact]
    public void Should_broadcast_a_single_channel_normalisation_and_match_the_fashion_mnist_constants()
    {
        var batch = new ImageBatch(new ImageShape(1, 2, 2), [0, 128, 255, 73], [3]);

        using var scope = torch.NewDisposeScope();
        var values = BatchTensors.ToTensor(batch, Normalization.FashionMnist).data<float>().ToArray();

        Assert.Equal((128 / 255f - 0.2860f) / 0.3530f, values[1], 5);
        Assert.Equal((1 - 0.2860f) / 0.3530f, values[2], 5);
        var rgb = new ImageBatch(new ImageShape(3, 1, 1), [255, 255, 255], [0]);
        Assert.Equal(3, BatchTensors.ToFloats(rgb, Normalization.Identity(1)).Count(v => v == 1f));
    }

    [Fact]
    public void Should_make_int64_labels()
    {
        var batch = new ImageBatch(new ImageShape(1, 1, 1), [0, 0, 0], [2, 0, 9]);

        using var scope = torch.NewDisposeScope();
        var y = BatchTensors.Labels(batch);

        Assert.Equal(ScalarType.Int64, y.dtype);
        Assert.Equal(new long[] { 2, 0, 9 }, y.data<long>().ToArray());
    }

    [Fact]
    public void Should_reject_a_normalisation_with_the_wrong_channel_count()
    {
        var batch = new ImageBatch(new ImageShape(3, 1, 1), [1, 2, 3], [0]);

        Assert.Throws<ArgumentException>(() => BatchTensors.ToFloats(batch, new Normalization([0.1f, 0.2f], [1f, 1f])));
    }
}
