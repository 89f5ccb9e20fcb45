using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Data;

/// <summary><see cref="Letterbox.ToSource"/> takes a box of the network input back to the source image's pixels, by hand-computed cases.</summary>
[Trait("Category", "Unit")]
public sealed class LetterboxInverseSpecs
{
    [Fact]
    public void Should_undo_the_scale_and_the_offset_of_a_wide_image()
    {
        // 200x100 into 64: r = 0.32, scaled 64x32, placed at (0, 16).
        var letterbox = Letterbox.For(200, 100, 64);
        Assert.Equal((64, 32, 0, 16), (letterbox.ScaledWidth, letterbox.ScaledHeight, letterbox.Left, letterbox.Top));

        var box = letterbox.ToSource(new Box(1, 16, 24, 48, 40));

        DetectionFiles.AssertBox(new Box(1, 50, 25, 150, 75), box);
    }

    [Fact]
    public void Should_undo_the_offset_of_a_tall_image_and_cut_a_box_reaching_into_the_padding()
    {
        // 50x100 into 64: r = 0.64, scaled 32x64, placed at (16, 0).
        var letterbox = Letterbox.For(50, 100, 64);

        var inside = letterbox.ToSource(new Box(0, 24, 32, 40, 64));
        var overhanging = letterbox.ToSource(new Box(0, 8, 0, 56, 16));

        DetectionFiles.AssertBox(new Box(0, 12.5f, 50, 37.5f, 100), inside);
        DetectionFiles.AssertBox(new Box(0, 0, 0, 50, 25), overhanging); // x 8..56 reaches 8 px into both grey bands
    }

    [Fact]
    public void Should_invert_map_for_a_box_inside_the_image()
    {
        var letterbox = Letterbox.For(333, 517, 96);
        var source = new Box(1, 12.25f, 40.5f, 300, 517);

        var back = letterbox.ToSource(letterbox.Map(source.Class, source.X1, source.Y1, source.X2, source.Y2));

        DetectionFiles.AssertBox(source, back, tolerance: 1e-3f);
    }
}
