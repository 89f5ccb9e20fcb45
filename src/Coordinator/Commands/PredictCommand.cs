using System.Globalization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Metrics;

namespace P2PDistill.Coordinator.Commands;

/// <summary>
/// <c>predict --model a.json [--model b.json ...] IMAGE...</c>: classifies image files (PNG, JPEG, BMP, GIF, WebP) with exported
/// models, decoded as the image-folder dataset decodes them (stretched to the model's input size, grayscale or RGB as its
/// channels say). Prints one line per image, <c>IMAGE&lt;TAB&gt;CLASS&lt;TAB&gt;PROBABILITY</c>: the top class of the model, or of the
/// ensemble (mean of the probabilities) when several models are given. Unreadable images are reported on standard error
/// and make the exit code 2; the readable ones are still classified.
/// </summary>
public static class PredictCommand
{
    public const string Name = "predict";
    private const string Section = "Predict";
    private const int BatchSize = 64;

    public const string Usage = """
        Usage: p2pdistill-coordinator predict --model MODEL.json [--model MODEL2.json ...] IMAGE...

          Prints, for each image file, its top class and that class's probability (tab-separated), from the model or, when
          several are given, from their ensemble (mean of probabilities). The models must share classes and input shape.
          Exit code 0: done; 2: bad input (unknown option, missing or corrupt model, unreadable image); 1: other failure.
        """;

    public static CommandLine Create() => new(
    [
        new("model", [$"{Section}:{CommandSupport.ModelsKey}"], "an exported model's card (.json, beside its .dat and .safetensors)", IsRepeatable: true),
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

        var models = CommandSupport.LoadModels(cards);
        try
        {
            var first = models[0];
            foreach (var m in models.Skip(1))
                if (m.InputShape != first.InputShape || !m.ClassNames.SequenceEqual(first.ClassNames, StringComparer.Ordinal))
                    throw new CommandInputException($"Models of one prediction must share input shape and classes: {CommandSupport.Describe(first)} " +
                        $"and {CommandSupport.Describe(m)} do not.");
            var shape = first.InputShape;
            if (shape.Height != shape.Width)
                throw new CommandInputException($"Model {CommandSupport.Describe(first)} takes non-square {shape.Height}x{shape.Width} images; predict decodes square images only.");

            var images = new List<(string Path, byte[] Pixels)>();
            int unreadable = 0;
            foreach (var path in parsed.Positionals)
            {
                try
                {
                    if (!File.Exists(path))
                        throw new DatasetException(Directory.Exists(path) ? $"Image file '{path}' is a directory." : $"Image file '{path}' does not exist.");
                    images.Add((path, ImageFolderDataset.DecodeImage(path, shape.Height, shape.Channels)));
                }
                catch (DatasetException e)
                {
                    error.WriteLine($"{Name}: error: {e.Message}");
                    unreadable++;
                }
            }

            var inv = CultureInfo.InvariantCulture;
            int classes = first.NumClasses;
            for (int start = 0; start < images.Count; start += BatchSize)
            {
                var chunk = images.Skip(start).Take(BatchSize).ToList();
                var batch = new ImageBatch(shape, chunk.SelectMany(i => i.Pixels).ToArray(), new int[chunk.Count]);
                var probabilities = Ensemble.MeanProbabilities(models.Select(m => m.Predict(batch)).ToList());
                for (int i = 0; i < chunk.Count; i++)
                {
                    int best = 0;
                    for (int c = 1; c < classes; c++)
                        if (probabilities[i * classes + c] > probabilities[i * classes + best]) best = c;
                    output.WriteLine(string.Create(inv, $"{chunk[i].Path}\t{first.ClassNames[best]}\t{probabilities[i * classes + best]:F4}"));
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
}
