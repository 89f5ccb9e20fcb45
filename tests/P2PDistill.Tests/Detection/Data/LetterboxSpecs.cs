using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Data;

[Trait("Category", "Unit")]
public sealed class LetterboxSpecs
{
    [Theory]
    [InlineData(40, 20, 32, 32, 16, 0, 8)]   // wide: r = 0.8
    [InlineData(20, 40, 32, 16, 32, 8, 0)]   // tall
    [InlineData(30, 10, 32, 32, 11, 0, 10)]  // r = 16/15: 10.67 rounds to 11, (32 - 11)/2 = 10
    [InlineData(64, 64, 64, 64, 64, 0, 0)]   // already the size
    [InlineData(16, 16, 64, 64, 64, 0, 0)]   // scaled up
    [InlineData(1000, 1, 32, 32, 1, 0, 15)]  // at least one pixel
    public void Should_keep_the_aspect_and_centre_the_image(int width, int height, int size, int scaledWidth, int scaledHeight, int left, int top)
    {
        var letterbox = Letterbox.For(width, height, size);

        Assert.Equal(new Letterbox(width, height, size, scaledWidth, scaledHeight, left, top), letterbox);
    }

    [Fact]
    public void Should_map_source_pixels_onto_the_scaled_and_shifted_image()
    {
        var letterbox = Letterbox.For(30, 10, 32); // x scale 32/30, y scale 11/10, top 10

        var box = letterbox.Map(1, 15, 0, 30, 10);

        DetectionFiles.AssertBox(new Box(1, 16, 10, 32, 21), box);
    }
}
