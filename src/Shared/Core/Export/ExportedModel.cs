using P2PDistill.Shared.Data;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Tasks;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Export;

/// <summary>Which of an export's weight files to load.</summary>
public enum WeightsFormat { TorchSharp, Safetensors }

/// <summary>
/// A network loaded back from an export: rebuilt from its <see cref="ModelCard"/> (architecture and spec through
/// <see cref="ModelRegistry"/>) after checking the SHA-256 of every file the card lists, then filled from the .dat
/// (default) or the .safetensors file. Predicts in evaluation mode with the card's normalisation, and answers with what its
/// <see cref="Task"/> makes of the output (<see cref="ITrainingTask.Predictions"/>: class probabilities, or a detector's
/// probability map), exactly as the run's evaluation saw it. Not thread-safe: use one instance from one thread at a time.
/// </summary>
public sealed class ExportedModel : IImagePredictor
{
    private readonly nn.Module<Tensor, Tensor> network;
    private bool disposed;

    private ExportedModel(ModelCard card, string cardPath, string weightsPath, nn.Module<Tensor, Tensor> network)
    {
        Card = card;
        CardPath = cardPath;
        WeightsPath = weightsPath;
        this.network = network;
        Normalization = card.ToNormalization();
        Task = TrainingTasks.For(card.Task, card.Spec, card.Classes.Names);
    }

    public ModelCard Card { get; }
    public string CardPath { get; }

    public string Engine => "TorchSharp";

    /// <summary>The weight file that was loaded.</summary>
    public string WeightsPath { get; }

    public Normalization Normalization { get; }
    public ModelSpec Spec => Card.Spec;
    public ImageShape InputShape => Card.ImageShape;
    public IReadOnlyList<string> ClassNames => Card.Classes.Names;
    public int NumClasses => Card.Classes.Count;
    public nn.Module<Tensor, Tensor> Network => network;

    /// <summary>The task of the architecture (<see cref="ModelInfo.Task"/>), for the card's input shape and classes.</summary>
    public ITrainingTask Task { get; }

    /// <summary>Floats <see cref="Predict(ImageBatch)"/> returns per image (classification: C; detection: L·(C + 4B)).</summary>
    public int OutputsPerImage => Task.OutputsPerImage;

    /// <summary>Loads the export whose card is <paramref name="cardPath"/>.</summary>
    /// <exception cref="ModelExportException">
    /// The card is missing or invalid, a file it lists is missing or fails its SHA-256 check, or the weights do not load
    /// into the architecture; the message names the file.
    /// </exception>
    public static ExportedModel Load(string cardPath, WeightsFormat format = WeightsFormat.TorchSharp)
    {
        cardPath = Path.GetFullPath(cardPath);
        var card = ModelCard.Load(cardPath);
        VerifyFiles(card, cardPath);

        var formatName = format == WeightsFormat.TorchSharp ? ModelExporter.TorchSharpFormat : ModelExporter.SafetensorsFormat;
        var file = card.Files.FirstOrDefault(f => string.Equals(f.Format, formatName, StringComparison.OrdinalIgnoreCase))
            ?? throw new ModelExportException($"Model card '{cardPath}' lists no {formatName} weights file " +
                $"(it lists: {string.Join(", ", card.Files.Select(f => $"{f.Name} ({f.Format})"))}).") { Path = cardPath };
        var weightsPath = Path.Combine(Path.GetDirectoryName(cardPath)!, file.Name);

        var network = ModelRegistry.Create(card.Architecture, card.Spec);
        try
        {
            if (format == WeightsFormat.TorchSharp) network.load(weightsPath, strict: true);
            else network.load_safetensors(weightsPath, strict: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            network.Dispose();
            throw new ModelExportException($"Weights file '{weightsPath}' does not load into {card.Architecture} {card.Spec} " +
                $"as model card '{cardPath}' says: {e.Message}", e) { Path = weightsPath };
        }
        network.eval();
        return new ExportedModel(card, cardPath, weightsPath, network);
    }

    /// <summary>Checks that every file <paramref name="card"/> lists exists beside <paramref name="cardPath"/> with the recorded SHA-256.</summary>
    /// <exception cref="ModelExportException">The card lists no file, or a file is missing or does not match; the message names it.</exception>
    public static void VerifyFiles(ModelCard card, string cardPath)
    {
        if (card.Files.Count == 0)
            throw new ModelExportException($"Model card '{cardPath}' lists no weight files; export the model again.") { Path = cardPath };
        var dir = Path.GetDirectoryName(Path.GetFullPath(cardPath))!;
        foreach (var file in card.Files)
        {
            var path = Path.Combine(dir, file.Name);
            if (!File.Exists(path))
                throw new ModelExportException($"File '{path}' listed in model card '{cardPath}' is missing: copy it beside the card or export the model again.") { Path = path };
            var actual = ModelExporter.Sha256(path);
            if (!string.Equals(actual, file.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new ModelExportException($"File '{path}' does not match the SHA-256 recorded in model card '{cardPath}' " +
                    $"(expected {file.Sha256}, found {actual}): it is corrupt or was changed after export.") { Path = path };
        }
    }

    /// <summary>
    /// The task's predictions (<see cref="ITrainingTask.Predictions"/>, row-major, <see cref="OutputsPerImage"/> per image) for a batch
    /// of uint8 images of the card's input shape: class probabilities N x C, or a detector's probability map N x L x (C + 4B).
    /// </summary>
    public float[] Predict(ImageBatch batch)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        this.CheckBatch(batch);
        if (batch.Count == 0) return [];
        network.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var input = BatchTensors.ToTensor(batch, Normalization);
        return Task.Predictions(network.forward(input));
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        network.Dispose();
    }
}
