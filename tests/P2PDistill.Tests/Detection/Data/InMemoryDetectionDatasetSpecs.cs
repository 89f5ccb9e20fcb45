using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Data;

[Trait("Category", "Unit")]
public sealed class InMemoryDetectionDatasetSpecs
{
    private static readonly ImageShape Shape = new(1, 16, 16);

    private static InMemoryDetectionDataset Make(params Box[][] boxes) =>
        new("test", Shape, ["a", "b"], boxes.Select((_, i) => Enumerable.Repeat((byte)i, Shape.Pixels).ToArray()).ToArray(), boxes);

    [Theory]
    [InlineData(2, 0, 0, 4, 4)]     // class beyond the class count
    [InlineData(0, 4, 0, 4, 4)]     // no width
    [InlineData(0, -1, 0, 4, 4)]    // left of the image
    [InlineData(0, 0, 0, 4, 16.5f)] // below the image
    public void Should_refuse_a_box_outside_the_image_or_the_classes(int cls, float x1, float y1, float x2, float y2)
    {
        Assert.Throws<ArgumentException>(() => Make([new Box(cls, x1, y1, x2, y2)]));
    }

    [Fact]
    public void Should_hold_background_images_and_take_a_prefix()
    {
        var dataset = Make([new Box(1, 0, 0, 16, 16)], [], [new Box(0, 1, 2, 3, 4)]);

        var first = DetectionSubset.Take(dataset, 2);

        Assert.Equal(2, first.Count);
        Assert.Equal("test[:2]", first.Name);
        Assert.Empty(first.Boxes(1));
        Assert.Equal(1, DetectionFiles.Image(first, 1)[0]);
        Assert.Same(dataset, DetectionSubset.Take(dataset, 0));
        Assert.Same(dataset, DetectionSubset.Take(dataset, 3));
    }
}
