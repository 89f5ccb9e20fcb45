using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Commands;

/// <summary>
/// <c>export --model a.json [--model b.json ...] --onnx [--output FILE]</c>: converts exported models (an earlier run's
/// <c>models/ID.json</c> cards, beside their .dat and .safetensors) to ONNX with <see cref="OnnxExporter"/>. One model becomes
/// <c>ID.onnx</c> beside its card, which then lists it (format "onnx", with its SHA-256); several become their student ensemble as
/// one graph (the mean of their softmax), <c>ensemble.onnx</c> beside the first card. <c>--output</c> names the file instead.
/// The files' checksums are checked first (<see cref="ExportedModel.Load"/>).
/// </summary>
public static class ExportCommand
{
    public const string Name = "export";
    private const string Section = "Export";
    public const string EnsembleFileName = "ensemble.onnx";

    public const string Usage = """
        Usage: p2pdistill-coordinator export --model MODEL.json [--model MODEL2.json ...] --onnx [--output FILE.onnx]

          Converts exported models (a run's models/ID.json cards, beside ID.dat and ID.safetensors) to ONNX (opset 17).
          One model: writes ID.onnx beside its card, and the card then lists it with its SHA-256 (--output: another file;
          the card lists it only when it is beside the card). Several models: writes their student ensemble as one graph,
          the mean of their softmax (detectors: of their probability maps), to ensemble.onnx beside the first card (or
          --output); they must share task, classes and input shape.
          The ONNX input "input" is float32 [batch, C, H, W]: raw pixel values 0-255, the card's normalisation is inside
          the graph (and in the metadata). Classifiers (cnn-teacher, cnn-student, tiny, mlp, resnet18, mobilenet-v2):
          "probabilities" (softmax over the classes) and, for one model, "logits". Detectors (det-teacher, det-student;
          height and width fixed to the card's): "probabilities" (the dense map with class sigmoids and side softmaxes;
          an ensemble: the mean of its members') and, for one model, "map" (raw logits); the map's layout and how to
          decode boxes are in the metadata (p2pdistill.layout, p2pdistill.decoding).
          Exit code 0: done; 2: bad input (unknown option, missing or corrupt model, an architecture without ONNX
          export, models that do not fit together); 1: other failure.
        """;

    public static CommandLine Create() => new(
    [
        new("model", [$"{Section}:{CommandSupport.ModelsKey}"], "an exported model's card (.json, beside its .dat and .safetensors)", IsRepeatable: true),
        new("onnx", [$"{Section}:Onnx"], "write ONNX (the only format this command writes for now)", IsSwitch: true),
        new("output", [$"{Section}:Output"], "the .onnx file to write (default: ID.onnx beside the card; ensemble.onnx beside the first card for several models)"),
    ]);

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        CommandSupport.Run(args, Create(), Usage, Name, output, error, Run);

    private static int Run(CommandLine.Parsed parsed, TextWriter output, TextWriter error)
    {
        if (parsed.Positionals.Count > 0)
            throw new CommandInputException($"export takes no positional arguments, got '{parsed.Positionals[0]}'. Give each model with --model CARD.json.");
        CommandSupport.OnlySections(parsed.Values, Section);
        var cards = CommandSupport.List(parsed.Values, $"{Section}:{CommandSupport.ModelsKey}");
        if (cards.Count == 0)
            throw new CommandInputException("export needs at least one --model CARD.json (the .json written beside an exported model's weights).");
        if (!parsed.Values.TryGetValue($"{Section}:Onnx", out var onnx) || !string.Equals(onnx, "true", StringComparison.OrdinalIgnoreCase))
            throw new CommandInputException("export writes ONNX only (for now): add --onnx.");
        var requested = parsed.Values.TryGetValue($"{Section}:Output", out var o) && !string.IsNullOrWhiteSpace(o) ? o : null;

        var models = CommandSupport.LoadModels(cards);
        try
        {
            foreach (var m in models)
                if (OnnxExporter.WhyNot(m.Card.Architecture) is { } why)
                    throw new CommandInputException($"Model {CommandSupport.Describe(m)} cannot be exported to ONNX: {why}.");
            if (models.Count == 1) return One(models[0], requested, output);
            CommandSupport.EnsureCompatible(models, "ensemble");
            var target = OutputPath(requested ?? Path.Combine(Path.GetDirectoryName(models[0].CardPath)!, EnsembleFileName));
            var model = OnnxExporter.BuildEnsemble(models.Select(m => (m.Network, m.Card)).ToList());
            OnnxExporter.Write(model, target);
            output.WriteLine($"wrote {target}: the ensemble of {models.Count} ({string.Join(", ", models.Select(m => $"'{m.Card.ModelId}' {m.Card.Architecture}"))}), " +
                $"{Describe(models[0].Card)}; output {OnnxExporter.ProbabilitiesName} (mean of the members' " +
                (models[0].Card.Task == TaskKind.Detection ? "probability maps)" : "softmax)"));
            return ExitCodes.Ok;
        }
        finally
        {
            CommandSupport.Dispose(models);
        }
    }

    private static int One(ExportedModel model, string? requested, TextWriter output)
    {
        var cardDirectory = Path.GetDirectoryName(model.CardPath)!;
        var target = OutputPath(requested ?? Path.Combine(cardDirectory, Path.GetFileNameWithoutExtension(model.CardPath) + OnnxExporter.Extension));
        var card = model.Card with { Files = [] };
        var file = OnnxExporter.Write(OnnxExporter.Build(model.Network, card), target);
        output.Write($"wrote {target}: '{model.Card.ModelId}' {model.Card.Architecture}, {Describe(model.Card)}; outputs " +
            $"{OnnxExporter.ProbabilitiesName}, {(model.Card.Task == TaskKind.Detection ? OnnxExporter.MapName : OnnxExporter.LogitsName)}");
        if (string.Equals(Path.GetDirectoryName(target), cardDirectory, StringComparison.Ordinal))
        {
            // Beside the card: the card lists it, replacing an earlier ONNX entry.
            var listed = model.Card with
            {
                Files = [.. model.Card.Files.Where(f => !string.Equals(f.Format, OnnxExporter.Format, StringComparison.OrdinalIgnoreCase) && f.Name != file.Name), file],
            };
            AtomicFile.WriteAllText(model.CardPath, listed.ToJson());
            output.Write($"; listed in {model.CardPath}");
        }
        output.WriteLine();
        return ExitCodes.Ok;
    }

    private static string Describe(ModelCard card) =>
        $"opset {OnnxExporter.Opset}, input float32 [{OnnxExporter.BatchDimension}, {card.InputShape.Channels}, {card.InputShape.Height}, {card.InputShape.Width}] " +
        $"raw pixels 0-255 (normalisation mean {string.Join("/", card.Normalization.Mean)} std {string.Join("/", card.Normalization.Std)} inside the graph)";

    /// <summary>The full path of the file to write; its folder is created. A folder given as the file is input to fix.</summary>
    private static string OutputPath(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new CommandInputException($"--output '{path}' is a folder; give the .onnx file to write.");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandInputException($"The folder of --output '{path}' cannot be created: {e.Message}");
        }
        return full;
    }
}
