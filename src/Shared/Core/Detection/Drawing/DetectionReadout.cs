using System.Globalization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using SkiaSharp;

namespace P2PDistill.Shared.Detection.Drawing;

/// <summary>
/// Detection's readout. An image file is letterboxed to the input size exactly as the detection data sets letterbox
/// (<see cref="Letterbox.Decode"/>). A prediction — a probability map, of one model or the mean of an ensemble's (as
/// <c>DetectionTask.Evaluate</c> averages them) — is decoded with the evaluation's decoder and NMS
/// (<see cref="DetectionDecoder.DecodeProbabilities"/>, default options) and its boxes are taken back to the file's pixels
/// (<see cref="Letterbox.ToSource"/>). <c>predict</c> prints one line per box, by decreasing score:
/// <c>IMAGE&lt;TAB&gt;CLASS&lt;TAB&gt;SCORE&lt;TAB&gt;X1&lt;TAB&gt;Y1&lt;TAB&gt;X2&lt;TAB&gt;Y2</c> (score with 4 decimals, corners
/// in pixels of the original image with 1), and <c>IMAGE&lt;TAB&gt;-</c> for an image without any. A run draws
/// <c>plots/detections.png</c>. Pictures show only the boxes scoring at least <see cref="DrawnScore"/>: the decoder keeps
/// everything above 0.05 for mAP, which on an image is a cloud of low-confidence boxes.
/// </summary>
public sealed class DetectionReadout(DetectionLayout layout, int channels, IReadOnlyList<string> classNames) : IPredictionReadout
{
    /// <summary>What a line says in place of a box when the image has none.</summary>
    public const string NoDetection = "-";

    /// <summary>The lowest score a drawn box has (<c>predict --draw</c>, <c>plots/detections.png</c>); the printed lines keep every box.</summary>
    public const float DrawnScore = 0.3f;

    public DetectionLayout Layout { get; } = layout;

    public ImageShape Shape { get; } = new(channels, layout.Height, layout.Width);

    /// <summary>The boxes of one image's probability map, in pixels of the network input, by decreasing score.</summary>
    public IReadOnlyList<Detection> Detections(ReadOnlySpan<float> probabilities) => DetectionDecoder.DecodeProbabilities(probabilities, Layout);

    /// <summary>The boxes of <paramref name="image"/>'s probability map, in pixels of the file it was read from, by decreasing score.</summary>
    public IReadOnlyList<Detection> SourceDetections(PreparedImage image, ReadOnlySpan<float> probabilities)
    {
        var letterbox = image.Letterbox ?? throw new ArgumentException($"'{image.Path}' was not letterboxed: read it with this readout", nameof(image));
        return Detections(probabilities).Select(d => d with { Box = letterbox.ToSource(d.Box) }).ToList();
    }

    public PreparedImage Read(string path)
    {
        if (Shape.Height != Shape.Width)
            throw new DatasetException($"A model of {Shape.Height}x{Shape.Width} input cannot read '{path}': image files are letterboxed to a square.") { Path = path };
        var (pixels, letterbox) = Letterbox.Decode(path, Shape.Height, Shape.Channels, "delete it");
        return new PreparedImage(path, pixels, letterbox);
    }

    public IReadOnlyList<string> Lines(PreparedImage image, ReadOnlySpan<float> predictions)
    {
        var detections = SourceDetections(image, predictions);
        if (detections.Count == 0) return [$"{image.Path}\t{NoDetection}"];
        return detections.Select(d => string.Create(CultureInfo.InvariantCulture,
            $"{image.Path}\t{Name(d.Box.Class)}\t{d.Score:F4}\t{d.Box.X1:F1}\t{d.Box.Y1:F1}\t{d.Box.X2:F1}\t{d.Box.Y2:F1}")).ToList();
    }

    public SKBitmap Draw(PreparedImage image, ReadOnlySpan<float> predictions)
    {
        var detections = SourceDetections(image, predictions).Where(d => d.Score >= DrawnScore).ToList();
        var bitmap = BoxPainter.Load(image.Path);
        BoxPainter.DrawDetections(bitmap, detections, classNames);
        return bitmap;
    }

    public string? TestImagesFileName => "detections.png";

    public SKBitmap DrawTruth(IImageDataset split, int index, int scale)
    {
        var boxes = split is IDetectionDataset detection
            ? detection.Boxes(index)
            : throw new ArgumentException($"{split.Name} has no boxes: a detector's ground truth needs a detection data set", nameof(split));
        var bitmap = BoxPainter.FromPixels(PredictionReadouts.Pixels(split, index), split.Shape, scale);
        BoxPainter.DrawTruth(bitmap, boxes, classNames, scale);
        return bitmap;
    }

    public SKBitmap DrawPrediction(IImageDataset split, int index, ReadOnlySpan<float> predictions, int scale)
    {
        var detections = Detections(predictions).Where(d => d.Score >= DrawnScore).ToList();
        var bitmap = BoxPainter.FromPixels(PredictionReadouts.Pixels(split, index), split.Shape, scale);
        BoxPainter.DrawDetections(bitmap, detections, classNames, scale);
        return bitmap;
    }

    private string Name(int cls) => (uint)cls < (uint)classNames.Count ? classNames[cls] : $"class{cls}";
}
