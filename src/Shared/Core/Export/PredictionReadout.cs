using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;
using SkiaSharp;

namespace P2PDistill.Shared.Export;

/// <summary>An image file decoded for a model: the network's input pixels, and how they were fitted from the file.</summary>
/// <param name="Path">The file, as given.</param>
/// <param name="Pixels">Channel-first uint8 pixels of the model's input shape.</param>
/// <param name="Letterbox">How the file's pixels were letterboxed into the input (detection); null when they were stretched to it (classification).</param>
public sealed record PreparedImage(string Path, byte[] Pixels, Letterbox? Letterbox = null);

/// <summary>
/// What a task makes of exported models' predictions for people (the <c>predict</c> command and the run's picture of test images):
/// how an image file becomes the network's input, the lines printed per image, and the pictures. The predictions it reads
/// are <see cref="Tasks.ITrainingTask.Predictions"/> of one image (of one model, or the mean over an ensemble's models):
/// class probabilities, or a detector's probability map. Built by <see cref="PredictionReadouts.For"/>; immutable.
/// </summary>
public interface IPredictionReadout
{
    /// <summary>The models' input shape.</summary>
    ImageShape Shape { get; }

    /// <summary>Decodes an image file into the input (classification: stretched to the input size; detection: letterboxed).</summary>
    /// <exception cref="DatasetException">The file cannot be read or decoded; the message names it.</exception>
    PreparedImage Read(string path);

    /// <summary>The lines <c>predict</c> prints for <paramref name="image"/>, each starting with its path and a tab.</summary>
    IReadOnlyList<string> Lines(PreparedImage image, ReadOnlySpan<float> predictions);

    /// <summary>The image file at its own size with the prediction drawn on it (<c>predict --draw</c>); the caller disposes it.</summary>
    SKBitmap Draw(PreparedImage image, ReadOnlySpan<float> predictions);

    /// <summary>The file name, in the run's plots/, of the picture of test images and predictions drawn at the end of a run; null: the task draws none.</summary>
    string? TestImagesFileName { get; }

    /// <summary>Test image <paramref name="index"/> of <paramref name="split"/>, enlarged <paramref name="scale"/> times, with its ground truth drawn.</summary>
    SKBitmap DrawTruth(IImageDataset split, int index, int scale);

    /// <summary>Test image <paramref name="index"/> of <paramref name="split"/>, enlarged <paramref name="scale"/> times, with <paramref name="predictions"/> of it drawn.</summary>
    SKBitmap DrawPrediction(IImageDataset split, int index, ReadOnlySpan<float> predictions, int scale);
}

/// <summary>The readout of each task.</summary>
public static class PredictionReadouts
{
    /// <summary>The readout of models of <paramref name="kind"/> with input shape and classes <paramref name="spec"/>, named <paramref name="classNames"/>.</summary>
    public static IPredictionReadout For(TaskKind kind, ModelSpec spec, IReadOnlyList<string> classNames) => kind switch
    {
        TaskKind.Classification => new ClassificationReadout(spec, classNames),
        TaskKind.Detection => new DetectionReadout(new DetectionLayout(spec.NumClasses, spec.Height, spec.Width), spec.Channels, classNames),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no such task"),
    };

    /// <summary>The readout of <paramref name="model"/>'s task, input shape and classes.</summary>
    public static IPredictionReadout For(IImagePredictor model) => For(model.Card.Task, model.Card.Spec, model.ClassNames);

    /// <summary>Channel-first pixels of image <paramref name="index"/> of <paramref name="split"/>.</summary>
    internal static byte[] Pixels(IImageDataset split, int index)
    {
        var pixels = new byte[split.Shape.Pixels];
        split.CopyImage(index, pixels);
        return pixels;
    }
}
