using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Data;

/// <summary>Local data mode compares fingerprints: for detection they must cover the boxes, not only the images and box counts.</summary>
[Trait("Category", "Unit")]
public sealed class DetectionFingerprintSpecs
{
    private static readonly ImageShape Shape = new(1, 16, 16);

    private static DatasetSplits Splits(params Box[][] trainBoxes)
    {
        var images = trainBoxes.Select((_, i) => Enumerable.Repeat((byte)(10 * i), Shape.Pixels).ToArray()).ToArray();
        var train = new InMemoryDetectionDataset("train", Shape, ["a", "b"], images, trainBoxes);
        var test = new InMemoryDetectionDataset("test", Shape, ["a", "b"], [new byte[Shape.Pixels]], [[new Box(0, 1, 1, 5, 5)]]);
        return new DetectionSplits(train, test).ToDatasetSplits();
    }

    [Fact]
    public void Should_give_the_same_fingerprint_to_the_same_images_and_boxes()
    {
        Assert.Equal(
            DatasetFingerprint.Compute(Splits([new Box(0, 1, 2, 8, 9)], [])),
            DatasetFingerprint.Compute(Splits([new Box(0, 1, 2, 8, 9)], [])));
    }

    [Theory]
    [InlineData(1, 1, 2, 8, 9)] // another class
    [InlineData(0, 1.5f, 2, 8, 9)] // another corner, same box count
    [InlineData(0, 1, 2, 8, 9.25f)]
    public void Should_tell_apart_splits_whose_boxes_differ_with_the_same_images_and_counts(int cls, float x1, float y1, float x2, float y2)
    {
        Assert.NotEqual(
            DatasetFingerprint.Compute(Splits([new Box(0, 1, 2, 8, 9)], [])),
            DatasetFingerprint.Compute(Splits([new Box(cls, x1, y1, x2, y2)], [])));
    }

    [Fact]
    public void Should_tell_apart_a_box_moved_to_another_image()
    {
        Assert.NotEqual(
            DatasetFingerprint.Compute(Splits([new Box(0, 1, 2, 8, 9), new Box(1, 9, 9, 12, 12)], [new Box(0, 3, 3, 6, 6)])),
            DatasetFingerprint.Compute(Splits([new Box(0, 1, 2, 8, 9), new Box(0, 3, 3, 6, 6)], [new Box(1, 9, 9, 12, 12)])));
    }
}
