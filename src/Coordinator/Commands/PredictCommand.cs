using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Metrics;

namespace P2PDistill.Coordinator.Commands;

/// <summary>
/// <c>predict --model a.json [--model b.json ...] [--draw DIR] IMAGE...</c>: runs exported models on image files (PNG, JPEG, BMP,
/// GIF, WebP), read and reported by their task's <see cref="IPredictionReadout"/>. Classifiers: the image is decoded as the
/// image-folder dataset decodes it (stretched to the model's input size, grayscale or RGB as its channels say) and one line
/// per image says <c>IMAGE&lt;TAB&gt;CLASS&lt;TAB&gt;PROBABILITY</c>, the top class. Detectors: the image is letterboxed as the
/// detection data sets letterbox it, and one line per detected box says
/// <c>IMAGE&lt;TAB&gt;CLASS&lt;TAB&gt;SCORE&lt;TAB&gt;X1&lt;TAB&gt;Y1&lt;TAB&gt;X2&lt;TAB&gt;Y2</c> in pixels of the original image
/// (<c>IMAGE&lt;TAB&gt;-</c> when there is none). Several models predict as their ensemble: the mean of their probabilities
/// (or probability maps). <c>--draw DIR</c> also writes <c>DIR/NAME.png</c> per image: the original with the prediction drawn.
/// Unreadable images are reported on standard error and make the exit code 2; the readable ones are still predicted.
/// </summary>
public static class PredictCommand
{
    public const string Name = "predict";
    private const string Section = "Predict";
    private const int BatchSize = 64;

    public const string Usage = """
        Usage: p2pdistill-coordinator predict --model MODEL.json|MODEL.onnx [--model ...] [--draw DIR] IMAGE...

          Classifiers: prints, for each image file, its top class and that class's probability (tab-separated).
          Detectors: prints one line per detected box, IMAGE, CLASS, SCORE, X1, Y1, X2, Y2 (tab-separated; the corners in
          pixels of the original image: the image is letterboxed for the model and the boxes are taken back), by
          decreasing score, and "IMAGE<TAB>-" for an image without detections.
          Several models predict as their ensemble (mean of their probabilities, or of their probability maps); they must
          share task, classes and input shape. A card (.json) runs in TorchSharp; an .onnx file (a model's, or an
          ensemble.onnx) runs in ONNX Runtime on the CPU, with no TorchSharp at inference.
          --draw DIR writes DIR/NAME.png for each image (NAME: the file's name without extension; NAME-2.png, ... when two
          images share a name): the original image with the boxes (class and score) or the top class drawn on it.
          Exit code 0: done; 2: bad input (unknown option, missing or corrupt model, models of different tasks,
          unreadable image); 1: other failure.
        """;

    public static CommandLine Create() => new(
    [
        new("model", [$"{Section}:{CommandSupport.ModelsKey}"], "an exported model's card (.json, beside its .dat and .safetensors), run by TorchSharp; or an .onnx file (one model or an ensemble), run by ONNX Runtime", IsRepeatable: true),
        new("draw", [$"{Section}:Draw"], "folder to write each image with its prediction drawn on it, as NAME.png (created if missing)"),
    ]);

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        CommandSupport.Run(args, Create(), Usage, Name, output, error, Run);

    private static int Run(CommandLine.Parsed parsed, TextWriter output, TextWriter error)
    {
        CommandSupport.OnlySections(parsed.Values, Section);
        var cards = CommandSupport.List(parsed.Values, $"{Section}:{CommandSupport.ModelsKey}");
        if (cards.Count == 0)
            throw new CommandInputException("predict needs at least one --model CARD.json (the .json written beside an exported model's weights).");
        if (parsed.Positionals.Count == 0)
            throw new CommandInputException("predict needs at least one image file after the options.");
        var drawTo = parsed.Values.TryGetValue($"{Section}:Draw", out var folder) && !string.IsNullOrWhiteSpace(folder) ? folder : null;

        var models = CommandSupport.LoadPredictors(cards);
        try
        {
            var first = models[0];
            CommandSupport.EnsureCompatible(models, "prediction");
            var shape = first.InputShape;
            if (shape.Height != shape.Width)
                throw new CommandInputException($"Model {CommandSupport.Describe(first)} takes non-square {shape.Height}x{shape.Width} images; predict decodes square images only.");
            var readout = PredictionReadouts.For(first);
            var draw = drawTo is null ? null : DrawFolder(drawTo);

            var images = new List<PreparedImage>();
            int unreadable = 0;
            foreach (var path in parsed.Positionals)
            {
                try
                {
                    if (!File.Exists(path))
                        throw new DatasetException(Directory.Exists(path) ? $"Image file '{path}' is a directory." : $"Image file '{path}' does not exist.");
                    images.Add(readout.Read(path));
                }
                catch (DatasetException e)
                {
                    error.WriteLine($"{Name}: error: {e.Message}");
                    unreadable++;
                }
            }

            int outputs = first.OutputsPerImage;
            var drawn = new HashSet<string>(StringComparer.Ordinal);
            for (int start = 0; start < images.Count; start += BatchSize)
            {
                var chunk = images.Skip(start).Take(BatchSize).ToList();
                var batch = new ImageBatch(shape, chunk.SelectMany(i => i.Pixels).ToArray(), new int[chunk.Count]);
                var predictions = Ensemble.MeanProbabilities(models.Select(m => m.Predict(batch)).ToList());
                for (int i = 0; i < chunk.Count; i++)
                {
                    var prediction = predictions.AsSpan(i * outputs, outputs);
                    foreach (var line in readout.Lines(chunk[i], prediction)) output.WriteLine(line);
                    if (draw is not null)
                    {
                        using var picture = readout.Draw(chunk[i], prediction);
                        BoxPainter.SavePng(picture, Path.Combine(draw, UniqueName(chunk[i].Path, drawn) + ".png"));
                    }
                }
            }
            if (unreadable > 0)
            {
                error.WriteLine($"{Name}: {unreadable} of {parsed.Positionals.Count} image(s) could not be read.");
                return ExitCodes.BadInput;
            }
            return ExitCodes.Ok;
        }
        finally
        {
            CommandSupport.Dispose(models);
        }
    }

    /// <summary>The --draw folder, created when missing; one that cannot be created is input to fix.</summary>
    private static string DrawFolder(string folder)
    {
        if (File.Exists(folder))
            throw new CommandInputException($"--draw '{folder}' is a file; give a folder to write the drawn images to.");
        try
        {
            return Directory.CreateDirectory(folder).FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandInputException($"--draw folder '{folder}' cannot be created: {e.Message}");
        }
    }

    /// <summary>The image's file name without extension; NAME-2, NAME-3, ... when an earlier image of this run took NAME.</summary>
    private static string UniqueName(string path, HashSet<string> taken)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        var unique = name;
        for (int n = 2; !taken.Add(unique); n++) unique = $"{name}-{n}";
        return unique;
    }
}
