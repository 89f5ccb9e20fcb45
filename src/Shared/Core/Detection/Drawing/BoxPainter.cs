using System.Globalization;
using System.Runtime.InteropServices;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;
using SkiaSharp;

namespace P2PDistill.Shared.Detection.Drawing;

/// <summary>Line width and label size of drawn boxes, in pixels of the bitmap drawn on.</summary>
public sealed record BoxStyle(float LineWidth, float FontSize)
{
    /// <summary>A style that reads well on a bitmap of <paramref name="width"/> × <paramref name="height"/>: lines of side/160, text of side/28 (at least 1 and 10 px).</summary>
    public static BoxStyle For(int width, int height)
    {
        int side = Math.Max(1, Math.Min(width, height));
        return new BoxStyle(Math.Max(1, MathF.Round(side / 160f)), Math.Max(10, side / 28f));
    }
}

/// <summary>
/// Draws boxes on images with SkiaSharp: one colour per class (<see cref="ColorOf"/>), each box's outline inside its
/// bounds and a label (class name, and the score for a prediction) in the class's colour above it (inside it at the top
/// when there is no room above). Bitmaps are RGBA (premultiplied, opaque) and come either from a data set's uint8 pixels
/// (<see cref="FromPixels"/>, channel-first grey or RGB, optionally enlarged) or from an image file as it is
/// (<see cref="Load"/>). Box coordinates are in pixels of the image they belong to; a <c>scale</c> maps them onto an
/// enlarged bitmap. Outlines are drawn without antialiasing, so a box of whole pixels colours exactly its border pixels:
/// with line width w, x1 … x1 + w − 1 on the left and x2 − w … x2 − 1 on the right (likewise for y).
/// </summary>
public static class BoxPainter
{
    /// <summary>Bright colours that stand out on photographs and on the synthetic set; class c takes entry c mod 10.</summary>
    public static IReadOnlyList<SKColor> Palette { get; } =
    [
        new(0, 220, 255), new(255, 230, 0), new(0, 230, 64), new(255, 64, 255), new(255, 128, 0),
        new(90, 130, 255), new(255, 255, 255), new(255, 150, 180), new(120, 255, 210), new(255, 40, 40),
    ];

    /// <summary>The colour of class <paramref name="cls"/>.</summary>
    public static SKColor ColorOf(int cls) => Palette[(int)((uint)cls % (uint)Palette.Count)];

    /// <summary>The typeface of labels and titles (DejaVu Sans where installed, else the system's default).</summary>
    public static SKTypeface Typeface { get; } = SKTypeface.FromFamilyName("DejaVu Sans", SKFontStyle.Normal) ?? SKTypeface.Default;

    /// <summary>
    /// An opaque RGBA bitmap of channel-first uint8 <paramref name="pixels"/> of <paramref name="shape"/> (1 channel: grey,
    /// 3: RGB), each pixel enlarged to a <paramref name="scale"/> × <paramref name="scale"/> block. The caller disposes it.
    /// </summary>
    public static SKBitmap FromPixels(ReadOnlySpan<byte> pixels, ImageShape shape, int scale = 1)
    {
        if (shape.Channels is not (1 or 3)) throw new ArgumentException($"images of {shape.Channels} channels cannot be drawn; 1 (grey) or 3 (RGB)", nameof(shape));
        if (pixels.Length != shape.Pixels) throw new ArgumentException($"{pixels.Length} bytes for a {shape} image of {shape.Pixels}", nameof(pixels));
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        int width = shape.Width * scale, height = shape.Height * scale, plane = shape.Height * shape.Width;
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var row = new byte[width * 4];
        for (int y = 0; y < height; y++)
        {
            int source = (y / scale) * shape.Width;
            for (int x = 0; x < width; x++)
            {
                int i = source + x / scale;
                byte r = pixels[i], g = shape.Channels == 1 ? r : pixels[plane + i], b = shape.Channels == 1 ? r : pixels[2 * plane + i];
                row[4 * x] = r;
                row[4 * x + 1] = g;
                row[4 * x + 2] = b;
                row[4 * x + 3] = 255;
            }
            Marshal.Copy(row, 0, bitmap.GetPixels() + y * bitmap.RowBytes, row.Length);
        }
        return bitmap;
    }

    /// <summary>
    /// An image file at its own size, decoded as the data sets decode it (SkiaSharp; transparent parts on black; EXIF
    /// orientation not applied), as an opaque RGBA bitmap. The caller disposes it.
    /// </summary>
    /// <exception cref="DatasetException">The file cannot be read or decoded; the message names it.</exception>
    public static SKBitmap Load(string path)
    {
        using var decoded = ImageFolderDataset.DecodeRgba(path, "delete it");
        var bitmap = new SKBitmap(new SKImageInfo(decoded.Width, decoded.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.Black);
        canvas.DrawBitmap(decoded, 0, 0);
        return bitmap;
    }

    /// <summary>Draws ground-truth boxes, labelled with their class names.</summary>
    public static void DrawTruth(SKBitmap bitmap, IEnumerable<Box> boxes, IReadOnlyList<string> classNames, float scale = 1, BoxStyle? style = null) =>
        Draw(bitmap, boxes.Select(b => (b, (float?)null)), classNames, scale, style);

    /// <summary>Draws predicted boxes, labelled with class name and score (two decimals); the highest scores are drawn last, on top.</summary>
    public static void DrawDetections(SKBitmap bitmap, IEnumerable<Detection> detections, IReadOnlyList<string> classNames, float scale = 1, BoxStyle? style = null) =>
        Draw(bitmap, detections.OrderBy(d => d.Score).Select(d => (d.Box, (float?)d.Score)), classNames, scale, style);

    /// <summary>
    /// Draws each box (in pixels of the image, times <paramref name="scale"/> on <paramref name="bitmap"/>) in its class's colour,
    /// in the order given, with its label: the class name, and the score when there is one.
    /// </summary>
    public static void Draw(SKBitmap bitmap, IEnumerable<(Box Box, float? Score)> boxes, IReadOnlyList<string> classNames, float scale = 1, BoxStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        ArgumentNullException.ThrowIfNull(classNames);
        style ??= BoxStyle.For(bitmap.Width, bitmap.Height);
        using var canvas = new SKCanvas(bitmap);
        using var font = new SKFont(Typeface, style.FontSize);
        foreach (var (box, score) in boxes)
        {
            var name = (uint)box.Class < (uint)classNames.Count ? classNames[box.Class] : $"class{box.Class}";
            var label = score is { } s ? string.Create(CultureInfo.InvariantCulture, $"{name} {s:F2}") : name;
            var color = ColorOf(box.Class);
            Outline(canvas, box, color, scale, style.LineWidth);
            Label(canvas, font, label, color, box.X1 * scale, box.Y1 * scale, bitmap.Width, bitmap.Height);
        }
    }

    /// <summary>Writes <paramref name="text"/> on a band of <paramref name="color"/> at the top-left corner (a classification's caption).</summary>
    public static void Caption(SKBitmap bitmap, string text, SKColor color, BoxStyle? style = null)
    {
        style ??= BoxStyle.For(bitmap.Width, bitmap.Height);
        using var canvas = new SKCanvas(bitmap);
        using var font = new SKFont(Typeface, style.FontSize);
        Label(canvas, font, text, color, 0, 0, bitmap.Width, bitmap.Height);
    }

    /// <summary>Writes <paramref name="bitmap"/> as a PNG at <paramref name="path"/>, atomically, creating its folder.</summary>
    public static void SavePng(SKBitmap bitmap, string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new IOException($"SkiaSharp could not encode a {bitmap.Width}x{bitmap.Height} PNG for '{path}'");
        AtomicFile.Write(path, tmp => File.WriteAllBytes(tmp, data.ToArray()));
    }

    private static void Outline(SKCanvas canvas, Box box, SKColor color, float scale, float width)
    {
        float x1 = box.X1 * scale, y1 = box.Y1 * scale, x2 = box.X2 * scale, y2 = box.Y2 * scale;
        // The stroke is centred on its path: inset by half the width, the outline lies inside the box (a box narrower than two
        // lines becomes one line down its middle).
        float half = width / 2;
        var rect = new SKRect(
            Math.Min(x1 + half, (x1 + x2) / 2), Math.Min(y1 + half, (y1 + y2) / 2),
            Math.Max(x2 - half, (x1 + x2) / 2), Math.Max(y2 - half, (y1 + y2) / 2));
        using var paint = new SKPaint { Color = color, Style = SKPaintStyle.Stroke, StrokeWidth = width, IsAntialias = false };
        canvas.DrawRect(rect, paint);
    }

    /// <summary>A band of <paramref name="color"/> holding <paramref name="text"/>, above (x, y) when it fits, else just below it; kept inside the bitmap.</summary>
    private static void Label(SKCanvas canvas, SKFont font, string text, SKColor color, float x, float y, int width, int height)
    {
        var metrics = font.Metrics;
        float pad = MathF.Max(1, font.Size / 8);
        float bandWidth = font.MeasureText(text) + 2 * pad, bandHeight = metrics.Descent - metrics.Ascent + 2 * pad;
        float left = Math.Clamp(x, 0, Math.Max(0, width - bandWidth));
        float top = y - bandHeight >= 0 ? y - bandHeight : Math.Clamp(y, 0, Math.Max(0, height - bandHeight));
        using var band = new SKPaint { Color = color, Style = SKPaintStyle.Fill, IsAntialias = false };
        canvas.DrawRect(new SKRect(left, top, left + bandWidth, top + bandHeight), band);
        // Dark text on light colours, white on dark ones (BT.601 luma).
        bool light = 0.299 * color.Red + 0.587 * color.Green + 0.114 * color.Blue > 140;
        using var ink = new SKPaint { Color = light ? SKColors.Black : SKColors.White, IsAntialias = true };
        canvas.DrawText(text, left + pad, top + pad - metrics.Ascent, SKTextAlign.Left, font, ink);
    }
}
