using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Tests.Data;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Drawing;

/// <summary>The box painter colours the pixels it should: images from uint8 pixels, box outlines inside their bounds, labels, panels.</summary>
[Trait("Category", "Unit")]
public sealed class BoxPainterSpecs
{
    private static readonly BoxStyle TwoPixels = new(LineWidth: 2, FontSize: 10);

    private static SKBitmap Black(int width, int height)
    {
        var bitmap = BoxPainter.FromPixels(new byte[width * height], new ImageShape(1, height, width));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(0, 0));
        return bitmap;
    }

    [Fact]
    public void Should_turn_channel_first_rgb_and_grey_pixels_into_a_bitmap_enlarged_by_whole_pixels()
    {
        // 2x3 RGB, channel-first: R plane, G plane, B plane.
        byte[] rgb = [10, 20, 30, 40, 50, 60, /* G */ 1, 2, 3, 4, 5, 6, /* B */ 100, 110, 120, 130, 140, 150];
        using var colour = BoxPainter.FromPixels(rgb, new ImageShape(3, 2, 3), scale: 2);
        using var grey = BoxPainter.FromPixels([7, 8, 9, 250], new ImageShape(1, 2, 2));

        Assert.Equal((6, 4), (colour.Width, colour.Height));
        Assert.Equal(new SKColor(10, 1, 100), colour.GetPixel(0, 0));
        Assert.Equal(new SKColor(10, 1, 100), colour.GetPixel(1, 1)); // one source pixel, a 2x2 block
        Assert.Equal(new SKColor(30, 3, 120), colour.GetPixel(5, 0));
        Assert.Equal(new SKColor(40, 4, 130), colour.GetPixel(0, 3));
        Assert.Equal(new SKColor(60, 6, 150), colour.GetPixel(5, 3));
        Assert.Equal(new SKColor(9, 9, 9), grey.GetPixel(0, 1));
        Assert.Equal(new SKColor(250, 250, 250), grey.GetPixel(1, 1));
    }

    [Fact]
    public void Should_outline_a_box_inside_its_bounds_in_its_class_colour()
    {
        using var bitmap = Black(64, 64);
        var color = BoxPainter.ColorOf(1);

        BoxPainter.DrawTruth(bitmap, [new Box(1, 10, 20, 40, 50)], ["a", "b"], style: TwoPixels);

        // Left edge: columns 10 and 11; right edge: 38 and 39; bottom: rows 48 and 49 (a 2-pixel line inside x 10..40, y 20..50).
        foreach (var x in new[] { 10, 11, 38, 39 }) Assert.Equal(color, bitmap.GetPixel(x, 35));
        foreach (var y in new[] { 48, 49 }) Assert.Equal(color, bitmap.GetPixel(25, y));
        foreach (var y in new[] { 20, 21 }) Assert.Equal(color, bitmap.GetPixel(39, y));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(9, 35)); // outside
        Assert.Equal(SKColors.Black, bitmap.GetPixel(40, 35));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(25, 50));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(12, 35)); // inside
        Assert.Equal(SKColors.Black, bitmap.GetPixel(25, 47));
        // The label's band sits just above the box, from its left edge.
        Assert.Equal(color, bitmap.GetPixel(10, 19));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(9, 19));
    }

    [Fact]
    public void Should_draw_boxes_of_the_image_on_a_bitmap_enlarged_by_the_scale()
    {
        using var bitmap = Black(64, 64);
        var color = BoxPainter.ColorOf(0);

        BoxPainter.DrawDetections(bitmap, [new Shared.Detection.Detection(new Box(0, 5, 10, 20, 25), 0.9f)], ["a"], scale: 2, style: TwoPixels);

        foreach (var x in new[] { 10, 11, 38, 39 }) Assert.Equal(color, bitmap.GetPixel(x, 35));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(40, 35));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(12, 35));
    }

    [Fact]
    public void Should_put_the_label_of_a_box_at_the_top_inside_it_and_keep_it_in_the_image()
    {
        using var bitmap = Black(64, 64);
        var color = BoxPainter.ColorOf(1);

        // "pedunculated" at 10 px is wider than the image: its band starts at x 0, not at the box's 30; no room above: from row 0.
        BoxPainter.DrawTruth(bitmap, [new Box(1, 30, 0, 60, 40)], ["sessile", "pedunculated"], style: TwoPixels);

        Assert.Equal(color, bitmap.GetPixel(0, 0));
        Assert.Equal(color, bitmap.GetPixel(5, 1)); // above the letters, left of the box
        Assert.Equal(color, bitmap.GetPixel(63, 1));
        Assert.Equal(SKColors.Black, bitmap.GetPixel(5, 20)); // below the band, outside the box
        Assert.Equal(SKColors.Black, bitmap.GetPixel(45, 30)); // below the band, inside the box
        Assert.Equal(color, bitmap.GetPixel(30, 30)); // the outline
    }

    [Fact]
    public void Should_give_each_class_its_own_colour_and_wrap_around_the_palette()
    {
        var colours = Enumerable.Range(0, BoxPainter.Palette.Count).Select(BoxPainter.ColorOf).ToList();

        Assert.Equal(colours.Count, colours.Distinct().Count());
        Assert.Equal(BoxPainter.ColorOf(0), BoxPainter.ColorOf(BoxPainter.Palette.Count));
    }

    [Fact]
    public void Should_compose_a_panel_holding_every_image_once_under_its_column_titles()
    {
        SKColor[] colours = [new(255, 0, 0), new(0, 255, 0), new(0, 0, 255), new(255, 0, 255)];
        var cells = colours.Select(c =>
        {
            var b = new SKBitmap(new SKImageInfo(20, 10, SKColorType.Rgba8888, SKAlphaType.Premul));
            b.Erase(c);
            return b;
        }).ToList();
        try
        {
            using var panel = ImagePanel.Compose(["left", "right"], [[cells[0], cells[1]], [cells[2], cells[3]]], ["row 1", "row 2"], "title");

            Assert.True(panel.Width >= 2 * 20 && panel.Height >= 2 * 10);
            foreach (var colour in colours)
                Assert.Equal(200, Count(panel, colour)); // each 20x10 image once, whole
            Assert.Equal(SKColors.White, panel.GetPixel(0, 0));
            // Left to right and top to bottom: red left of green, red above blue.
            var (red, green, blue) = (First(panel, colours[0]), First(panel, colours[1]), First(panel, colours[2]));
            Assert.True(red.X < green.X && red.Y == green.Y);
            Assert.True(red.Y < blue.Y && red.X == blue.X);
        }
        finally
        {
            foreach (var c in cells) c.Dispose();
        }
    }

    [Fact]
    public void Should_write_a_png_that_decodes_to_the_same_pixels()
    {
        using var dir = new TempDirectory();
        using var bitmap = BoxPainter.FromPixels([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], new ImageShape(3, 2, 2), scale: 3);
        var path = dir.Combine("sub", "picture.png");

        BoxPainter.SavePng(bitmap, path);

        using var read = SKBitmap.Decode(path);
        Assert.Equal((6, 6), (read.Width, read.Height));
        Assert.Equal(bitmap.GetPixel(4, 5), read.GetPixel(4, 5));
        Assert.Equal(new SKColor(4, 8, 12), read.GetPixel(5, 5));
    }

    private static int Count(SKBitmap bitmap, SKColor colour)
    {
        int n = 0;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
                if (bitmap.GetPixel(x, y) == colour) n++;
        return n;
    }

    private static (int X, int Y) First(SKBitmap bitmap, SKColor colour)
    {
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
                if (bitmap.GetPixel(x, y) == colour) return (x, y);
        throw new InvalidOperationException($"no pixel of {colour}");
    }
}
