using System.Globalization;
using System.Text;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Metrics;

namespace P2PDistill.Coordinator.Commands;

/// <summary>
/// <c>evaluate --model a.json [--model b.json ...]</c>: scores exported models on a dataset's test split, each on its own
/// and, with several models, their ensemble (mean of the softmax probabilities): accuracy, macro-F1, NLL, and for two
/// classes ROC-AUC, sensitivity and specificity (class 1 positive). Each model uses the normalisation of its card.
/// </summary>
public static class EvaluateCommand
{
    public const string Name = "evaluate";
    private const string Section = "Evaluate";

    public const string Usage = """
        Usage: p2pdistill-coordinator evaluate --model MODEL.json [--model MODEL2.json ...] [options]

          Scores exported models on the test split of a dataset, and their ensemble (mean of the models' probabilities)
          when several are given. Each model must have the dataset's classes and image shape. The image size and channels
          of an image folder or of synthetic data default to the first model's input shape.
          Exit code 0: done; 2: bad input (unknown option, missing or corrupt model, dataset that does not fit); 1: other failure.
        """;

    public static CommandLine Create() => new(
    [
        new("model", [$"{Section}:{CommandSupport.ModelsKey}"], "an exported model's card (.json, beside its .dat and .safetensors)", IsRepeatable: true),
        new("dataset", ["Data:Dataset"], "fashion-mnist, mnist, folder or synthetic (default: the dataset the first model was trained on)"),
        new("data-path", ["Data:Path"], "directory of the IDX files or of the image folder"),
        new("batch-size", [$"{Section}:BatchSize"], "images per forward pass (default 128)"),
        new("test-limit", ["Data:TestLimit"], "use only the first N test images (0: all)"),
        new("test-fraction", ["Data:TestFraction"], "image folder without train/ and test/: share held out for test (default 0.2); use the training run's"),
        new("seed", ["Data:Seed"], "data seed of the image-folder split and of synthetic data (default 1); use the training run's"),
    ]);

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        CommandSupport.Run(args, Create(), Usage, Name, output, error, Run);

    private static int Run(CommandLine.Parsed parsed, TextWriter output, TextWriter error)
    {
        if (parsed.Positionals.Count > 0)
            throw new CommandInputException($"evaluate takes no positional arguments, got '{parsed.Positionals[0]}'. Give each model with --model CARD.json.");
        CommandSupport.OnlySections(parsed.Values, Section, "Data");
        var cards = CommandSupport.List(parsed.Values, $"{Section}:{CommandSupport.ModelsKey}");
        if (cards.Count == 0)
            throw new CommandInputException("evaluate needs at least one --model CARD.json (the .json written beside an exported model's weights).");
        int batchSize = CommandSupport.PositiveInt(parsed.Values, $"{Section}:BatchSize", "--batch-size", 128);

        var models = CommandSupport.LoadModels(cards);
        try
        {
            var data = DataOptionsFor(parsed.Values, models[0].Card);
            var test = DatasetFactory.Load(data).Test;
            if (test.Count == 0) throw new CommandInputException($"The test split of '{data.Dataset}' ({test.Name}) is empty.");
            foreach (var m in models) CheckFits(m, test);

            var labels = new int[test.Count];
            for (int i = 0; i < labels.Length; i++) labels[i] = test.Label(i);
            var rows = new List<(string Model, string Architecture, string Card, ClassificationMetrics Metrics)>();
            var probabilities = new List<float[]>();
            foreach (var m in models)
            {
                var p = m.Predict(test, batchSize);
                probabilities.Add(p);
                rows.Add((m.Card.ModelId, m.Card.Architecture, Path.GetFileName(m.CardPath), MetricsCalculator.Compute(p, test.NumClasses, labels)));
            }
            if (models.Count > 1)
                rows.Add(($"ensemble of {models.Count}", "mean of probabilities", "",
                    MetricsCalculator.Compute(Ensemble.MeanProbabilities(probabilities), test.NumClasses, labels)));

            output.Write(Table(test, rows));
            return ExitCodes.Ok;
        }
        finally
        {
            CommandSupport.Dispose(models);
        }
    }

    /// <summary>Data options from the flags; what they leave open comes from the first model's card.</summary>
    private static DataOptions DataOptionsFor(Dictionary<string, string?> values, ModelCard card)
    {
        var data = new DataOptions
        {
            ImageSize = card.InputShape.Height,
            Channels = card.InputShape.Channels,
            SyntheticSize = card.InputShape.Height,
            SyntheticChannels = card.InputShape.Channels,
            SyntheticClasses = card.Classes.Count,
        };
        if (card.Training?.Dataset is { } trained && DatasetFactory.KnownDatasets.Contains(trained, StringComparer.OrdinalIgnoreCase))
            data = data with { Dataset = trained };
        return CommandSupport.Bind(values, "Data", data);
    }

    private static void CheckFits(ExportedModel m, IImageDataset test)
    {
        string? why = null;
        if (m.InputShape != test.Shape) why = $"its input is {m.InputShape} but the images are {test.Shape}";
        else if (m.NumClasses != test.NumClasses) why = $"it has {m.NumClasses} classes but the dataset has {test.NumClasses}";
        else if (!m.ClassNames.SequenceEqual(test.ClassNames, StringComparer.Ordinal))
            why = $"its classes are named {CommandSupport.Names(m.ClassNames)} but the dataset's are {CommandSupport.Names(test.ClassNames)}";
        if (why is not null)
            throw new CommandInputException($"Model {CommandSupport.Describe(m)} does not fit dataset '{test.Name}': {why}. " +
                "Choose the dataset the model was trained on (--dataset, --data-path).");
    }

    private static string Table(IImageDataset test, IReadOnlyList<(string Model, string Architecture, string Card, ClassificationMetrics Metrics)> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        bool binary = test.NumClasses == 2;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Test split {test.Name}: {test.Count} images, {test.NumClasses} classes ({CommandSupport.Names(test.ClassNames)})");
        sb.AppendLine();
        sb.AppendLine("| model | architecture | card | accuracy | macro-F1 | NLL |" + (binary ? " ROC-AUC | sensitivity | specificity |" : ""));
        sb.AppendLine("|---|---|---|---|---|---|" + (binary ? "---|---|---|" : ""));
        foreach (var (model, architecture, card, m) in rows)
        {
            sb.Append(inv, $"| {model} | {architecture} | {card} | {m.Accuracy:F4} | {m.MacroF1:F4} | {m.Nll:F4} |");
            if (binary) sb.Append(inv, $" {Value(m.RocAuc)} | {Value(m.Sensitivity)} | {Value(m.Specificity)} |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static string Value(double? v) => v is { } x ? x.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
}
