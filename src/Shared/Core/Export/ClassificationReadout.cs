using System.Globalization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Shared.Models;
using SkiaSharp;

namespace P2PDistill.Shared.Export;

/// <summary>
/// Classification's readout: an image file is stretched to the input size (as the image-folder data set decodes it); a
/// prediction is its top class and that class's probability (<c>IMAGE&lt;TAB&gt;CLASS&lt;TAB&gt;PROBABILITY</c>, 4 decimals;
/// the first class wins a tie), drawn as a caption. A run draws no picture of test images for this task.
/// </summary>
public sealed class ClassificationReadout(ModelSpec spec, IReadOnlyList<string> classNames) : IPredictionReadout
{
    public ImageShape Shape { get; } = new(spec.Channels, spec.Height, spec.Width);

    public PreparedImage Read(string path) => new(path, ImageFolderDataset.DecodeImage(path, Shape.Height, Shape.Channels));

    public IReadOnlyList<string> Lines(PreparedImage image, ReadOnlySpan<float> predictions)
    {
        int best = Top(predictions);
        return [string.Create(CultureInfo.InvariantCulture, $"{image.Path}\t{classNames[best]}\t{predictions[best]:F4}")];
    }

    public SKBitmap Draw(PreparedImage image, ReadOnlySpan<float> predictions) => Captioned(BoxPainter.Load(image.Path), predictions);

    public string? TestImagesFileName => null;

    public SKBitmap DrawTruth(IImageDataset split, int index, int scale)
    {
        var bitmap = BoxPainter.FromPixels(PredictionReadouts.Pixels(split, index), split.Shape, scale);
        int label = split.Label(index);
        BoxPainter.Caption(bitmap, classNames[label], BoxPainter.ColorOf(label));
        return bitmap;
    }

    public SKBitmap DrawPrediction(IImageDataset split, int index, ReadOnlySpan<float> predictions, int scale) =>
        Captioned(BoxPainter.FromPixels(PredictionReadouts.Pixels(split, index), split.Shape, scale), predictions);

    private SKBitmap Captioned(SKBitmap bitmap, ReadOnlySpan<float> predictions)
    {
        int best = Top(predictions);
        BoxPainter.Caption(bitmap, string.Create(CultureInfo.InvariantCulture, $"{classNames[best]} {predictions[best]:F4}"), BoxPainter.ColorOf(best));
        return bitmap;
    }

    private int Top(ReadOnlySpan<float> predictions)
    {
        if (predictions.Length != classNames.Count)
            throw new ArgumentException($"{predictions.Length} probabilities for {classNames.Count} classes", nameof(predictions));
        int best = 0;
        for (int c = 1; c < predictions.Length; c++)
            if (predictions[c] > predictions[best]) best = c;
        return best;
    }
}
