using SkiaSharp;

namespace P2PDistill.Shared.Detection.Drawing;

/// <summary>
/// Composes images into one picture: a grid on white, one row per entry of <c>rows</c>, one column per column title written
/// above it, an optional title on top and optional row titles on the left. Every cell is as large as the largest image; an
/// image smaller than its cell sits at the cell's top-left corner, and a null cell stays blank.
/// </summary>
public static class ImagePanel
{
    private const int Margin = 10;
    private const int Gap = 8;

    /// <summary>The composed picture; the caller disposes it. Rows may be shorter than the titles (the rest stays blank), not longer.</summary>
    public static SKBitmap Compose(IReadOnlyList<string> columnTitles, IReadOnlyList<IReadOnlyList<SKBitmap?>> rows,
        IReadOnlyList<string>? rowTitles = null, string? title = null, float fontSize = 14)
    {
        ArgumentNullException.ThrowIfNull(columnTitles);
        ArgumentNullException.ThrowIfNull(rows);
        if (columnTitles.Count == 0) throw new ArgumentException("a panel needs at least one column", nameof(columnTitles));
        if (rows.Any(r => r.Count > columnTitles.Count))
            throw new ArgumentException($"a row holds more images than the {columnTitles.Count} columns", nameof(rows));
        if (rowTitles is not null && rowTitles.Count != rows.Count)
            throw new ArgumentException($"{rowTitles.Count} row titles for {rows.Count} rows", nameof(rowTitles));

        using var font = new SKFont(BoxPainter.Typeface, fontSize);
        var metrics = font.Metrics;
        float line = metrics.Descent - metrics.Ascent;
        var images = rows.SelectMany(r => r).OfType<SKBitmap>().ToList();
        int cellWidth = Math.Max(1, images.Count == 0 ? 1 : images.Max(b => b.Width));
        cellWidth = Math.Max(cellWidth, (int)MathF.Ceiling(columnTitles.Max(t => font.MeasureText(t))));
        int cellHeight = Math.Max(1, images.Count == 0 ? 1 : images.Max(b => b.Height));
        int rowTitleWidth = rowTitles is null || rowTitles.Count == 0 ? 0 : (int)MathF.Ceiling(rowTitles.Max(t => font.MeasureText(t))) + Gap;
        int titleHeight = title is null ? 0 : (int)MathF.Ceiling(line * 1.4f) + Gap;
        int headerHeight = (int)MathF.Ceiling(line) + Gap / 2;

        int width = 2 * Margin + rowTitleWidth + columnTitles.Count * cellWidth + (columnTitles.Count - 1) * Gap;
        int height = 2 * Margin + titleHeight + headerHeight + rows.Count * cellHeight + Math.Max(0, rows.Count - 1) * Gap;
        var panel = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(panel);
        canvas.Clear(SKColors.White);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };

        if (title is not null)
        {
            using var big = new SKFont(BoxPainter.Typeface, fontSize * 1.25f);
            canvas.DrawText(title, Margin, Margin - big.Metrics.Ascent, SKTextAlign.Left, big, ink);
        }
        int top = Margin + titleHeight;
        for (int c = 0; c < columnTitles.Count; c++)
        {
            float x = Margin + rowTitleWidth + c * (cellWidth + Gap);
            canvas.DrawText(columnTitles[c], x + cellWidth / 2f, top - metrics.Ascent, SKTextAlign.Center, font, ink);
        }
        top += headerHeight;
        for (int r = 0; r < rows.Count; r++)
        {
            int y = top + r * (cellHeight + Gap);
            if (rowTitles is not null)
                canvas.DrawText(rowTitles[r], Margin, y + cellHeight / 2f + line / 2 - metrics.Descent, SKTextAlign.Left, font, ink);
            for (int c = 0; c < rows[r].Count; c++)
                if (rows[r][c] is { } image)
                    canvas.DrawBitmap(image, Margin + rowTitleWidth + c * (cellWidth + Gap), y);
        }
        return panel;
    }
}
