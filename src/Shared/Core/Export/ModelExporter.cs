using System.Reflection;
using System.Security.Cryptography;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Shared.Training;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Export;

/// <summary>The files of one export: weights, safetensors and card, and the ONNX model when one was written.</summary>
public sealed record ExportResult(ModelCard Card, string CardPath, string WeightsPath, string SafetensorsPath, string? OnnxPath = null)
{
    public IReadOnlyList<string> Paths => OnnxPath is null ? [WeightsPath, SafetensorsPath, CardPath] : [WeightsPath, SafetensorsPath, OnnxPath, CardPath];
}

/// <summary>
/// Writes a trained network as <c>BASE.dat</c> (TorchSharp's own <c>Module.save</c>), <c>BASE.safetensors</c> (its state dict:
/// parameters and buffers such as batch-norm running statistics, each in its own dtype and shape) and <c>BASE.json</c> (the
/// <see cref="ModelCard"/>, with the SHA-256 of both weight files), and on request <c>BASE.onnx</c> (<see cref="OnnxExporter"/>:
/// the classifiers of the registry, normalisation folded in; listed in the card as format "onnx"). Every file is written
/// atomically, the card last, so a card on disk always describes complete files.
/// </summary>
public static class ModelExporter
{
    public const string WeightsExtension = ".dat";
    public const string SafetensorsExtension = ".safetensors";
    public const string CardExtension = ".json";
    public const string TorchSharpFormat = "torchsharp";
    public const string SafetensorsFormat = "safetensors";
    public const int SafetensorsFormatVersion = 1;

    /// <summary>The TorchSharp version writing the .dat files.</summary>
    public static string TorchSharpVersion { get; } =
        typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>
    /// Exports <paramref name="model"/>, which must be the network <paramref name="card"/> describes (same architecture, input
    /// shape and classes: its state dict is compared with a freshly built one). Fills the card's parameter count, format versions
    /// and files. Returns the paths and the card as written. <paramref name="onnx"/>: also write <c>BASE.onnx</c> when the
    /// architecture has an ONNX export (<see cref="OnnxExporter.Supports"/>; others are exported without it).
    /// </summary>
    /// <exception cref="ModelExportException">The card is invalid or does not describe <paramref name="model"/>.</exception>
    public static ExportResult Export(nn.Module model, ModelCard card, string directory, string baseName, bool onnx = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckCard(card);
        CheckMatches(model, card);
        return Write(model, card, directory, baseName, weightBytes: null, onnx);
    }

    /// <summary>
    /// Exports a network received as TorchSharp <c>Module.save</c> bytes (a model actor's weights, e.g. from a remote node):
    /// rebuilds <paramref name="card"/>'s architecture, loads the bytes strictly (every tensor present, same shapes) and exports
    /// it. The .dat file holds <paramref name="torchSharpWeights"/> unchanged. This is the export of every run (a model actor's final
    /// weights), so <paramref name="onnx"/> is on by default: <c>BASE.onnx</c> is written beside the weights for every architecture
    /// that has an ONNX export (<see cref="OnnxExporter.Supports"/>: the classifiers and the detectors), and left out for the others (the benchmark model).
    /// </summary>
    /// <exception cref="ModelExportException">The card is invalid or the bytes do not load into its architecture.</exception>
    public static ExportResult ExportBytes(byte[] torchSharpWeights, ModelCard card, string directory, string baseName, bool onnx = true)
    {
        ArgumentNullException.ThrowIfNull(torchSharpWeights);
        CheckCard(card);
        using var module = ModelRegistry.Create(card.Architecture, card.Spec);
        try
        {
            module.load(new MemoryStream(torchSharpWeights, writable: false), strict: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ModelExportException($"The weights of '{card.ModelId}' ({torchSharpWeights.Length} bytes) do not load into " +
                $"{card.Architecture} {card.Spec}: {e.Message}", e);
        }
        return Write(module, card, directory, baseName, torchSharpWeights, onnx);
    }

    /// <summary>Lowercase hex SHA-256 of a file.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static ExportResult Write(nn.Module model, ModelCard card, string directory, string baseName, byte[]? weightBytes, bool onnx)
    {
        CheckBaseName(baseName);
        Directory.CreateDirectory(directory);
        var weightsPath = Path.GetFullPath(Path.Combine(directory, baseName + WeightsExtension));
        var safetensorsPath = Path.GetFullPath(Path.Combine(directory, baseName + SafetensorsExtension));
        var cardPath = Path.GetFullPath(Path.Combine(directory, baseName + CardExtension));

        using (no_grad())
        {
            AtomicFile.Write(weightsPath, tmp =>
            {
                if (weightBytes is null) model.save(tmp);
                else File.WriteAllBytes(tmp, weightBytes);
            });
            AtomicFile.Write(safetensorsPath, tmp => model.save_safetensors(tmp));
        }

        var written = card with
        {
            ParameterCount = ModelRegistry.ParameterCount(model),
            CreatedUtc = card.CreatedUtc == default ? DateTime.UtcNow : card.CreatedUtc.ToUniversalTime(),
            FormatVersions = new FormatVersions(ModelCard.CurrentFormatVersion, TorchSharpVersion, SafetensorsFormatVersion),
            Files =
            [
                Describe(weightsPath, TorchSharpFormat),
                Describe(safetensorsPath, SafetensorsFormat),
            ],
        };
        string? onnxPath = null;
        if (onnx && OnnxExporter.Supports(card.Architecture) && model is nn.Module<Tensor, Tensor> network)
        {
            onnxPath = Path.GetFullPath(Path.Combine(directory, baseName + OnnxExporter.Extension));
            var onnxFile = OnnxExporter.Write(OnnxExporter.Build(network, written with { Files = [] }), onnxPath);
            written = written with { Files = [.. written.Files, onnxFile] };
        }
        AtomicFile.WriteAllText(cardPath, written.ToJson());
        return new ExportResult(written, cardPath, weightsPath, safetensorsPath, onnxPath);
    }

    private static ExportedFile Describe(string path, string format) =>
        new(Path.GetFileName(path), format, Sha256(path), new FileInfo(path).Length);

    private static void CheckCard(ModelCard card)
    {
        ArgumentNullException.ThrowIfNull(card);
        var problems = card.Validate();
        if (problems.Count > 0)
            throw new ModelExportException($"Cannot export '{card.ModelId}': the model card is invalid: {string.Join(" ", problems)}");
    }

    private static void CheckBaseName(string baseName)
    {
        if (string.IsNullOrWhiteSpace(baseName) || baseName is "." or ".." || baseName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0
            || baseName.Contains('/') || baseName.Contains('\\'))
            throw new ArgumentException($"Export base name '{baseName}' must be a plain file name without extension or folder.", nameof(baseName));
    }

    /// <summary>The module's state dict must have the names, shapes and dtypes of a fresh network of the card's architecture and spec.</summary>
    private static void CheckMatches(nn.Module model, ModelCard card)
    {
        using var scope = NewDisposeScope();
        using var reference = ModelRegistry.Create(card.Architecture, card.Spec);
        var expected = reference.state_dict();
        var actual = model.state_dict();
        var problems = new List<string>();
        foreach (var (name, tensor) in expected)
        {
            if (!actual.TryGetValue(name, out var other)) problems.Add($"missing '{name}'");
            else if (!other.shape.SequenceEqual(tensor.shape) || other.dtype != tensor.dtype)
                problems.Add($"'{name}' is {other.dtype}[{string.Join(",", other.shape)}], expected {tensor.dtype}[{string.Join(",", tensor.shape)}]");
        }
        problems.AddRange(actual.Keys.Where(k => !expected.ContainsKey(k)).Select(k => $"unexpected '{k}'"));
        if (problems.Count > 0)
            throw new ModelExportException($"Cannot export '{card.ModelId}': the network is not a {card.Architecture} for {card.Spec} as its card says: " +
                string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $"; and {problems.Count - 5} more" : "") + ".");
    }
}
