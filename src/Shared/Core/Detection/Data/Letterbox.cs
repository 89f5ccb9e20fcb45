using P2PDistill.Shared.Data;
using SkiaSharp;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// How a W×H source image fits a Size×Size network input with its aspect kept (docs/design/detection.md §2): scaled by
/// r = min(Size/W, Size/H) to <see cref="ScaledWidth"/> = round(W·r) by <see cref="ScaledHeight"/> = round(H·r) (half up,
/// at least 1), placed at (<see cref="Left"/>, <see cref="Top"/>) = (⌊(Size − ScaledWidth)/2⌋, ⌊(Size − ScaledHeight)/2⌋),
/// the rest grey <see cref="Padding"/>. A source point (x, y) in pixels goes to
/// (Left + x·ScaledWidth/W, Top + y·ScaledHeight/H): the boxes follow the pixels exactly.
/// </summary>
public readonly record struct Letterbox(int SourceWidth, int SourceHeight, int Size, int ScaledWidth, int ScaledHeight, int Left, int Top)
{
    /// <summary>The grey of the padding, as YOLO's letterbox.</summary>
    public const byte Padding = 114;

    public static Letterbox For(int sourceWidth, int sourceHeight, int size)
    {
        if (sourceWidth < 1 || sourceHeight < 1) throw new ArgumentOutOfRangeException(nameof(sourceWidth), $"source image {sourceWidth}x{sourceHeight} is empty");
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be positive");
        int w, h;
        if ((long)sourceWidth >= sourceHeight)
        {
            w = size;
            h = (int)Math.Max(1, (2L * sourceHeight * size + sourceWidth) / (2L * sourceWidth)); // round(H·size/W), half up
        }
        else
        {
            h = size;
            w = (int)Math.Max(1, (2L * sourceWidth * size + sourceHeight) / (2L * sourceHeight));
        }
        return new Letterbox(sourceWidth, sourceHeight, size, w, h, (size - w) / 2, (size - h) / 2);
    }

    public double ScaleX => (double)ScaledWidth / SourceWidth;
    public double ScaleY => (double)ScaledHeight / SourceHeight;

    /// <summary>The box (x1, y1, x2, y2) in source pixels, in pixels of the letterboxed image (clamped to 0..Size).</summary>
    public Box Map(int cls, double x1, double y1, double x2, double y2) => new(cls,
        (float)Math.Clamp(Left + x1 * ScaleX, 0, Size), (float)Math.Clamp(Top + y1 * ScaleY, 0, Size),
        (float)Math.Clamp(Left + x2 * ScaleX, 0, Size), (float)Math.Clamp(Top + y2 * ScaleY, 0, Size));

    /// <summary>
    /// The inverse of <see cref="Map"/>: <paramref name="box"/>, in pixels of the letterboxed image, in pixels of the source image,
    /// ((x − Left)·W/ScaledWidth, (y − Top)·H/ScaledHeight), clamped to 0..W × 0..H (a box reaching into the padding is cut at
    /// the image's edge). Its class is kept.
    /// </summary>
    public Box ToSource(Box box) => new(box.Class,
        (float)Math.Clamp((box.X1 - Left) / ScaleX, 0, SourceWidth), (float)Math.Clamp((box.Y1 - Top) / ScaleY, 0, SourceHeight),
        (float)Math.Clamp((box.X2 - Left) / ScaleX, 0, SourceWidth), (float)Math.Clamp((box.Y2 - Top) / ScaleY, 0, SourceHeight));

    /// <summary>
    /// Decodes an image file with SkiaSharp (as <see cref="ImageFolderDataset"/>: composited onto black where transparent,
    /// resized bilinearly with mipmaps, grayscale by BT.601 luma or RGB) and letterboxes it to <paramref name="size"/>²;
    /// returns the channel-first uint8 pixels and the letterbox used. EXIF orientation is not applied. A file that cannot be read
    /// or decoded is a <see cref="DatasetException"/> naming it and ending "Replace or <paramref name="remedy"/>".
    /// </summary>
    public static (byte[] Pixels, Letterbox Letterbox) Decode(string path, int size, int channels, string remedy = "remove it and its labels")
    {
        using var decoded = ImageFolderDataset.DecodeRgba(path, remedy);
        var letterbox = For(decoded.Width, decoded.Height, size);
        using var resized = ImageFolderDataset.Resized(decoded, letterbox.ScaledWidth, letterbox.ScaledHeight, path);
        var bitmap = resized ?? decoded;
        return (Place(bitmap.GetPixelSpan(), bitmap.RowBytes, letterbox, channels), letterbox);
    }

    /// <summary>Writes the scaled RGBA image into a Size×Size grey canvas at (Left, Top), channel-first.</summary>
    private static byte[] Place(ReadOnlySpan<byte> rgba, int rowBytes, Letterbox box, int channels)
    {
        int size = box.Size, plane = size * size;
        var output = new byte[plane * channels];
        output.AsSpan().Fill(Padding);
        for (int y = 0; y < box.ScaledHeight; y++)
        {
            var row = rgba.Slice(y * rowBytes, box.ScaledWidth * 4);
            int o = (box.Top + y) * size + box.Left;
            for (int x = 0; x < box.ScaledWidth; x++, o++)
            {
                int r = row[4 * x], g = row[4 * x + 1], b = row[4 * x + 2];
                if (channels == 1)
                {
                    output[o] = (byte)((19595 * r + 38470 * g + 7471 * b + 32768) >> 16); // BT.601 luma, as ImageFolderDataset
                }
                else
                {
                    output[o] = (byte)r;
                    output[plane + o] = (byte)g;
                    output[2 * plane + o] = (byte)b;
                }
            }
        }
        return output;
    }
}
