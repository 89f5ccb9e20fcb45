using System.Globalization;
using System.Text;
using P2PDistill.Coordinator.Onnx;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Commands;

/// <summary>
/// <c>evaluate --model a.json [--model b.json ...]</c>: scores exported models on a dataset's test split, each on its own
/// and, with several models, their ensemble (mean of the models' predictions: softmax probabilities, or a detector's
/// probability map), with their task's evaluation (<see cref="ITrainingTask.Evaluate"/>): accuracy, macro-F1, NLL and for
/// two classes ROC-AUC, sensitivity and specificity (class 1 positive); mAP@0.5, mAP@0.5:0.95, AP@0.5 per class and the
/// number of detections for detectors. Each model uses the normalisation of its card. The models must share task, classes
/// and input shape.
/// </summary>
public static class EvaluateCommand
{
    public const string Name = "evaluate";
    private const string Section = "Evaluate";

    public const string Usage = """
        Usage: p2pdistill-coordinator evaluate --model MODEL.json|MODEL.onnx [--model ...] [options]

          Scores exported models on the test split of a dataset, and their ensemble (mean of the models' probabilities;
          of their probability maps for detectors) when several are given. A card (.json) runs in TorchSharp; an .onnx
          file (a model's, or an ensemble.onnx) runs in ONNX Runtime on the CPU, with no TorchSharp at inference. The models must share task, classes and input
          shape, and the dataset must have them. Classifiers: accuracy, macro-F1, NLL (two classes: ROC-AUC, sensitivity,
          specificity); detectors: mAP@0.5, mAP@0.5:0.95, AP@0.5 per class, detections.
          The dataset defaults to the one the first model was trained on; the image size and channels of an image folder,
          a detection set or synthetic data to the first model's input shape. Synthetic sets are generated again from
          --seed and their counts (--Data:SyntheticTest=N; give the training run's: default 512 test images).
          Exit code 0: done; 2: bad input (unknown option, missing or corrupt model, models of different tasks, dataset
          that does not fit); 1: other failure.
        """;

    public static CommandLine Create() => new(
    [
        new("model", [$"{Section}:{CommandSupport.ModelsKey}"], "an exported model's card (.json, beside its .dat and .safetensors), run by TorchSharp; or an .onnx file (one model or an ensemble), run by ONNX Runtime", IsRepeatable: true),
        new("dataset", ["Data:Dataset"], "fashion-mnist, mnist, folder, synthetic, medmnist, pneumoniamnist; detectors: synthetic-detection, yolo, coco (default: the dataset the first model was trained on)"),
        new("data-path", ["Data:Path"], "directory of the IDX files or of the image folder; the .npz file; the YOLO folder or COCO JSON"),
        new("batch-size", [$"{Section}:BatchSize"], "images per forward pass (default 128)"),
        new("test-limit", ["Data:TestLimit"], "use only the first N test images (0: all)"),
        new("test-fraction", ["Data:TestFraction"], "image folder, YOLO or COCO without split folders or files: share held out for test (default 0.2); use the training run's"),
        new("seed", ["Data:Seed"], "data seed of the image-folder, YOLO and COCO splits and of synthetic data (default 1); use the training run's"),
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

        var models = CommandSupport.LoadPredictors(cards);
        try
        {
            CommandSupport.EnsureCompatible(models, "evaluation");
            var data = DataOptionsFor(parsed.Values, models[0].Card);
            var test = DatasetFactory.Load(data).Test;
            if (test.Count == 0) throw new CommandInputException($"The test split of '{data.Dataset}' ({test.Name}) is empty.");
            foreach (var m in models) CheckFits(m, test);

            // Every model counts as a student, so that the task's ensemble is the mean over all of them.
            var predictions = models.Select(m => (m.Card.ModelId, ModelRole.Student, m.PredictAll(test, batchSize))).ToList();
            var evaluation = models[0].Task.Evaluate(0, 0, predictions, test);
            var rows = models.Select((m, i) => (m.Card.ModelId, Architecture(m), Path.GetFileName(m.CardPath), evaluation.Models[i].Metrics)).ToList();
            if (models.Count > 1 && evaluation.StudentEnsemble is { } ensemble)
                rows.Add(($"ensemble of {models.Count}", "mean of probabilities", "", ensemble));

            output.Write(Table(test, rows));
            return ExitCodes.Ok;
        }
        finally
        {
            CommandSupport.Dispose(models);
        }
    }

    /// <summary>The architecture, and for an .onnx file that ONNX Runtime ran it (an ensemble file: its members' count).</summary>
    private static string Architecture(IImagePredictor m) => m switch
    {
        OnnxRuntimeModel { Kind: "ensemble" } e => $"ensemble of {e.MemberCount} {e.Card.Architecture} ({e.Engine})",
        OnnxRuntimeModel o => $"{o.Card.Architecture} ({o.Engine})",
        _ => m.Card.Architecture,
    };

    /// <summary>Data options from the flags; what they leave open comes from the first model's card (its task, training dataset and input shape).</summary>
    private static DataOptions DataOptionsFor(Dictionary<string, string?> values, ModelCard card)
    {
        var data = new DataOptions
        {
            Task = card.Task,
            ImageSize = card.InputShape.Height,
            Channels = card.InputShape.Channels,
            SyntheticSize = card.InputShape.Height,
            SyntheticChannels = card.InputShape.Channels,
            SyntheticClasses = card.Classes.Count,
        };
        if (card.Training?.Dataset is { } trained && DatasetFactory.KnownDatasets.Contains(trained, StringComparer.OrdinalIgnoreCase)
            && DatasetFactory.TaskOf(trained) == card.Task)
            data = data with { Dataset = trained };
        data = CommandSupport.Bind(values, "Data", data);
        if (DatasetFactory.TaskOf(data.Dataset) != card.Task)
        {
            var fitting = DatasetFactory.KnownDatasets.Where(d => DatasetFactory.TaskOf(d) == card.Task);
            throw new CommandInputException($"Model '{card.ModelId}' ({card.Architecture}) is a {card.Task.SettingName()} model, but --dataset " +
                $"{data.Dataset} is not a {card.Task.SettingName()} data set: choose one of {string.Join(", ", fitting)}.");
        }
        return data;
    }

    private static void CheckFits(IImagePredictor m, IImageDataset test)
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

    /// <summary>One Markdown table for either task: the columns are the metrics' <see cref="IModelMetrics.ReportColumns"/> (each in its column's format, n/a when undefined).</summary>
    private static string Table(IImageDataset test, IReadOnlyList<(string Model, string Architecture, string Card, IModelMetrics Metrics)> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        var titles = rows[0].Metrics.ReportColumns.Select(c => c.Title).ToList();
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Test split {test.Name}: {test.Count} images, {test.NumClasses} classes ({CommandSupport.Names(test.ClassNames)})");
        sb.AppendLine();
        sb.AppendLine($"| model | architecture | card | {string.Join(" | ", titles)} |");
        sb.AppendLine($"|---|---|---|{string.Concat(titles.Select(_ => "---|"))}");
        foreach (var (model, architecture, card, m) in rows)
            sb.AppendLine($"| {model} | {architecture} | {card} | {string.Join(" | ", m.ReportColumns.Select(Value))} |");
        return sb.ToString();
    }

    private static string Value(MetricColumn c) => c.Value is { } x ? x.ToString(c.Format, CultureInfo.InvariantCulture) : "n/a";
}
