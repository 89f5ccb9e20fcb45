using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;

namespace P2PDistill.Coordinator.Onnx;

/// <summary>
/// An ONNX file written by P2PDistill (<see cref="OnnxExporter"/>: one model or a student ensemble), run by ONNX Runtime on the
/// CPU with no TorchSharp at inference. What it is comes from its metadata: a model's card (<c>p2pdistill.model_card</c>), or for
/// an ensemble its members, classes and input shape. It is fed raw pixel values 0-255 (the normalisation is inside the graph) and
/// answers with its <c>probabilities</c> output, which is what the task's <see cref="ITrainingTask.Predictions"/> makes of the
/// network's output. Not thread-safe: use one instance from one thread at a time.
/// </summary>
public sealed class OnnxRuntimeModel : IImagePredictor
{
    public const string EngineName = "ONNX Runtime";

    private readonly InferenceSession session;
    private readonly string[] outputNames = [OnnxExporter.ProbabilitiesName];
    private bool disposed;

    private OnnxRuntimeModel(string path, InferenceSession session, ModelCard card, string kind, int memberCount)
    {
        Metadata = session.ModelMetadata.CustomMetadataMap;
        CardPath = path;
        this.session = session;
        Card = card;
        Kind = kind;
        MemberCount = memberCount;
        Task = TrainingTasks.For(card.Task, card.Spec, card.Classes.Names);
    }

    public ModelCard Card { get; }
    public string CardPath { get; }
    public string Engine => EngineName;

    /// <summary>The file's metadata_props (keys with <see cref="OnnxExporter.MetadataPrefix"/>), as ONNX Runtime read them.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>"model" or "ensemble" (the metadata's <c>p2pdistill.kind</c>).</summary>
    public string Kind { get; }

    /// <summary>Models averaged by the graph: 1, or an ensemble's members.</summary>
    public int MemberCount { get; }

    public ImageShape InputShape => Card.ImageShape;
    public IReadOnlyList<string> ClassNames => Card.Classes.Names;
    public int NumClasses => Card.Classes.Count;
    public ITrainingTask Task { get; }
    public int OutputsPerImage => Task.OutputsPerImage;

    /// <summary>Whether <paramref name="path"/> names an ONNX file (by its extension), to be loaded with <see cref="Load"/>.</summary>
    public static bool IsOnnxPath(string path) => path.EndsWith(OnnxExporter.Extension, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Loads <paramref name="path"/> into an ONNX Runtime session on the CPU, with <paramref name="threads"/> intra-op threads (0: ONNX
    /// Runtime's default, one per core) and sequential execution.
    /// </summary>
    /// <exception cref="ModelExportException">The file is missing, is not an ONNX model ONNX Runtime can load, or was not written by
    /// P2PDistill (no metadata saying its classes and input); the message names the file and what to do.</exception>
    public static OnnxRuntimeModel Load(string path, int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
            throw new ModelExportException(Directory.Exists(path) ? $"ONNX file '{path}' is a directory." : $"ONNX file '{path}' does not exist.") { Path = path };
        InferenceSession session;
        using (var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        })
        {
            try
            {
                session = new InferenceSession(path, options);
            }
            catch (OnnxRuntimeException e)
            {
                throw new ModelExportException($"ONNX file '{path}' does not load in ONNX Runtime: {e.Message}", e) { Path = path };
            }
        }
        try
        {
            var metadata = session.ModelMetadata.CustomMetadataMap;
            var (card, kind, members) = Describe(metadata, path);
            if (!session.InputMetadata.ContainsKey(OnnxExporter.InputName) || !session.OutputMetadata.ContainsKey(OnnxExporter.ProbabilitiesName))
                throw new ModelExportException($"ONNX file '{path}' has no input '{OnnxExporter.InputName}' or no output '{OnnxExporter.ProbabilitiesName}' " +
                    $"(inputs: {string.Join(", ", session.InputNames)}; outputs: {string.Join(", ", session.OutputNames)}): export the model again " +
                    "with p2pdistill-coordinator export --model CARD.json --onnx.") { Path = path };
            return new OnnxRuntimeModel(path, session, card, kind, members);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The card the metadata records (a model's), or one made from an ensemble's members, classes and input shape.</summary>
    private static (ModelCard Card, string Kind, int Members) Describe(IReadOnlyDictionary<string, string> metadata, string path)
    {
        string? Get(string key) => metadata.TryGetValue(OnnxExporter.MetadataPrefix + key, out var v) ? v : null;
        var kind = Get("kind");
        if (kind is null)
            throw new ModelExportException($"ONNX file '{path}' was not written by P2PDistill (it has no {OnnxExporter.MetadataPrefix}* metadata saying " +
                "its classes and input): export the model with p2pdistill-coordinator export --model CARD.json --onnx.") { Path = path };
        try
        {
            if (kind == "model")
            {
                var json = Get("model_card") ?? throw new ModelExportException($"ONNX file '{path}' has no {OnnxExporter.MetadataPrefix}model_card metadata.");
                var card = ModelCard.FromJson(json, $"the model card in the metadata of ONNX file '{path}'");
                Known(card.Architecture, path);
                return (card, kind, 1);
            }
            if (kind == "ensemble")
            {
                var members = JsonSerializer.Deserialize<List<EnsembleMember>>(Get("members") ?? "null", MetadataJson)
                    ?? throw new ModelExportException($"ONNX file '{path}' is an ensemble without {OnnxExporter.MetadataPrefix}members metadata.");
                var classes = JsonSerializer.Deserialize<List<string>>(Get("classes") ?? "null")
                    ?? throw new ModelExportException($"ONNX file '{path}' has no {OnnxExporter.MetadataPrefix}classes metadata.");
                if (members.Count == 0 || classes.Count == 0)
                    throw new ModelExportException($"ONNX file '{path}' names no members or no classes in its metadata.");
                var first = members[0];
                Known(first.Architecture, path);
                var card = new ModelCard
                {
                    ModelId = Path.GetFileNameWithoutExtension(path),
                    Architecture = first.Architecture,
                    Role = "ensemble",
                    Classes = new ClassList(classes.Count, classes),
                    InputShape = ParseShape(Get("input_shape"), path),
                    Normalization = first.Normalization ?? new NormalizationInfo([0f], [1f]),
                    Training = Get("training") is { } training ? JsonSerializer.Deserialize<TrainingSummary>(training, ModelCard.JsonOptions) : null,
                };
                return (card, kind, members.Count);
            }
        }
        catch (JsonException e)
        {
            throw new ModelExportException($"ONNX file '{path}' has malformed {OnnxExporter.MetadataPrefix}* metadata: {e.Message}. Export the model again.", e) { Path = path };
        }
        throw new ModelExportException($"ONNX file '{path}' is of kind '{kind}', which this build does not know (model or ensemble).") { Path = path };
    }

    private static void Known(string architecture, string path)
    {
        if (!ModelRegistry.IsKnown(architecture))
            throw new ModelExportException($"ONNX file '{path}' holds architecture '{architecture}', which this build does not know.") { Path = path };
    }

    private static InputShape ParseShape(string? text, string path)
    {
        var parts = (text ?? "").Split('x');
        if (parts.Length == 3 && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0))
            return new InputShape(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
        throw new ModelExportException($"ONNX file '{path}' has input_shape metadata '{text}', not CxHxW.") { Path = path };
    }

    private static readonly JsonSerializerOptions MetadataJson = new() { PropertyNameCaseInsensitive = true };

    private sealed record EnsembleMember(
        [property: System.Text.Json.Serialization.JsonPropertyName("model_id")] string ModelId,
        [property: System.Text.Json.Serialization.JsonPropertyName("architecture")] string Architecture,
        [property: System.Text.Json.Serialization.JsonPropertyName("normalization")] NormalizationInfo? Normalization);

    /// <summary>The graph's <c>probabilities</c> for a batch of uint8 images of <see cref="InputShape"/> (fed as raw values 0-255).</summary>
    public float[] Predict(ImageBatch batch)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        this.CheckBatch(batch);
        if (batch.Count == 0) return [];
        var input = new float[batch.Pixels.Length];
        for (int i = 0; i < input.Length; i++) input[i] = batch.Pixels[i];
        return Run(input, batch.Count);
    }

    /// <summary>The <c>probabilities</c> for <paramref name="count"/> images given as floats (raw pixel values), [count, C, H, W].</summary>
    public float[] Run(float[] input, int count)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var shape = InputShape;
        using var value = OrtValue.CreateTensorValueFromMemory(input, [count, shape.Channels, shape.Height, shape.Width]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [OnnxExporter.InputName], [value], outputNames);
        var result = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        if (result.Length != (long)count * OutputsPerImage)
            throw new ModelExportException($"ONNX file '{CardPath}' answered {result.Length} values for {count} images, not {OutputsPerImage} per image " +
                $"as its {Card.Task.SettingName()} metadata says: export the model again.") { Path = CardPath };
        return result;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        session.Dispose();
    }
}
