using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Data;

[Trait("Category", "Unit")]
public sealed class DetectionBatchSpecs
{
    private static readonly IDetectionDataset Dataset = SyntheticDetectionDataset.Generate("batch", 20, 64, 3, seed: 9, SyntheticDetectionDataset.TrainSplit);

    [Fact]
    public void Should_build_the_pixels_and_boxes_of_the_indices_in_order()
    {
        int[] indices = [7, 2, 7, 19];

        var batch = DetectionBatchBuilder.Build(Dataset, indices);

        Assert.Equal(4, batch.Count);
        Assert.Equal(Dataset.Shape, batch.Shape);
        int size = Dataset.Shape.Pixels;
        for (int i = 0; i < indices.Length; i++)
        {
            Assert.Equal(DetectionFiles.Image(Dataset, indices[i]), batch.Pixels.AsSpan(i * size, size).ToArray());
            Assert.Equal(Dataset.Boxes(indices[i]), batch.Boxes[i]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => DetectionBatchBuilder.Build(Dataset, [20]));
    }

    [Fact]
    public void Should_augment_each_image_and_its_boxes_by_its_position_deterministically()
    {
        var options = new AugmentOptions(CropPadding: 6, HorizontalFlip: true);
        int[] indices = [0, 1, 2, 3, 4, 5, 6, 7];

        var a = DetectionBatchBuilder.Build(Dataset, indices, options, seed: 1, epoch: 2, step: 3);
        var b = DetectionBatchBuilder.Build(Dataset, indices, options, seed: 1, epoch: 2, step: 3);
        var c = DetectionBatchBuilder.Build(Dataset, indices, options, seed: 1, epoch: 2, step: 4);

        Assert.Equal(a.Pixels, b.Pixels);
        Assert.Equal(BoxCodec.Encode(a.Boxes), BoxCodec.Encode(b.Boxes));
        Assert.NotEqual(a.Pixels, c.Pixels);
        // The same as augmenting the plain batch afterwards, image by image.
        var after = DetectionAugmentation.Apply(DetectionBatchBuilder.Build(Dataset, indices), options, 1, 2, 3);
        Assert.Equal(a.Pixels, after.Pixels);
        Assert.Equal(BoxCodec.Encode(a.Boxes), BoxCodec.Encode(after.Boxes));
        for (int i = 0; i < indices.Length; i++)
            Assert.Equal(DetectionAugmentation.Apply(Dataset.Boxes(indices[i]), 64, 64, DetectionAugmentation.Choose(options, 1, 2, 3, i)), a.Boxes[i]);
    }

    [Fact]
    public void Should_round_trip_boxes_through_the_flat_encoding()
    {
        Box[][] boxes =
        [
            [new(1, 0.25f, 1.5f, 63.75f, 64), new(0, 10.1f, 20.2f, 30.3f, 40.4f)],
            [],
            [new(3, 1e-3f, 2, 3, 4)],
            [],
        ];

        var encoded = BoxCodec.Encode(boxes);
        var decoded = BoxCodec.Decode(encoded, images: 4);

        Assert.Equal(4 + 5 * 3, encoded.Length);
        Assert.Equal(BoxCodec.EncodedLength(boxes), encoded.Length);
        Assert.Equal(new float[] { 2, 1, 0.25f, 1.5f, 63.75f, 64 }, encoded[..6]);
        Assert.Equal(4, decoded.Length);
        for (int i = 0; i < boxes.Length; i++) Assert.Equal(boxes[i], decoded[i]);
        Assert.Empty(BoxCodec.Decode([]));
    }

    [Theory]
    [InlineData(new float[] { 2, 0, 1, 1, 2, 2 }, "announces 2 box(es)")]
    [InlineData(new float[] { 1.5f }, "box count 1.5")]
    [InlineData(new float[] { -1 }, "box count -1")]
    [InlineData(new float[] { 1, 0.5f, 1, 1, 2, 2 }, "class 0.5")]
    public void Should_reject_a_malformed_encoding(float[] encoded, string expected)
    {
        var e = Assert.Throws<FormatException>(() => BoxCodec.Decode(encoded));

        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Should_reject_an_encoding_of_another_batch_size()
    {
        var more = Assert.Throws<FormatException>(() => BoxCodec.Decode([0, 0, 0], images: 2));
        var fewer = Assert.Throws<FormatException>(() => BoxCodec.Decode([0], images: 2));

        Assert.Contains("more than the 2 image(s) expected", more.Message);
        Assert.Contains("1 image(s) encoded, 2 expected", fewer.Message);
    }
}
