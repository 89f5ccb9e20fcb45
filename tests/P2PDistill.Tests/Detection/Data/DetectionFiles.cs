using P2PDistill.Shared.Detection;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Data;

/// <summary>Writes small images and label files for the detection loader tests (always under a temp directory).</summary>
public static class DetectionFiles
{
    /// <summary>A <paramref name="width"/>×<paramref name="height"/> image of <paramref name="background"/> with filled rectangles (x1, y1, x2, y2 exclusive).</summary>
    public static void WriteImage(string path, int width, int height, SKColor background, params (int X1, int Y1, int X2, int Y2, SKColor Color)[] rectangles) =>
        WriteImage(path, width, height, background, SKEncodedImageFormat.Png, rectangles);

    public static void WriteImage(string path, int width, int height, SKColor background, SKEncodedImageFormat format, params (int X1, int Y1, int X2, int Y2, SKColor Color)[] rectangles)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        bitmap.Erase(background);
        foreach (var (x1, y1, x2, y2, color) in rectangles)
            for (int y = y1; y < y2; y++)
                for (int x = x1; x < x2; x++)
                    bitmap.SetPixel(x, y, color);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    public static void WriteText(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    /// <summary>Pixel (channel, y, x) of a channel-first image of side <paramref name="size"/>.</summary>
    public static byte At(byte[] image, int size, int channel, int y, int x) => image[channel * size * size + y * size + x];

    public static byte[] Image(IDetectionDataset dataset, int index)
    {
        var image = new byte[dataset.Shape.Pixels];
        dataset.CopyImage(index, image);
        return image;
    }

    public static void AssertBox(Box expected, Box actual, float tolerance = 1e-4f)
    {
        Assert.Equal(expected.Class, actual.Class);
        Assert.True(Math.Abs(expected.X1 - actual.X1) <= tolerance && Math.Abs(expected.Y1 - actual.Y1) <= tolerance
            && Math.Abs(expected.X2 - actual.X2) <= tolerance && Math.Abs(expected.Y2 - actual.Y2) <= tolerance,
            $"expected {expected}, got {actual}");
    }
}
