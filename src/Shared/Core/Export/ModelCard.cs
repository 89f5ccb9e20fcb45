using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Shared.Export;

/// <summary>
/// What an exported model is and how to use it: written as <c>BASE.json</c> beside the weights (snake_case JSON).
/// Enough to rebuild the network (<see cref="Architecture"/> + <see cref="Spec"/>), feed it (<see cref="InputShape"/>,
/// <see cref="Normalization"/>), name its outputs (<see cref="Classes"/>) and check its files (<see cref="Files"/>).
/// </summary>
public sealed record ModelCard
{
    /// <summary>Version of this card's layout; a reader refuses a newer one.</summary>
    public const int CurrentFormatVersion = 1;

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The model's id in its cohort ("teacher", "student-1", ...).</summary>
    public required string ModelId { get; init; }

    /// <summary>A <see cref="ModelRegistry"/> name ("cnn-student", "resnet18", ...).</summary>
    public required string Architecture { get; init; }

    /// <summary>"teacher" or "student".</summary>
    public required string Role { get; init; }

    /// <summary>Trainable parameters; the exporter fills it from the network.</summary>
    public long ParameterCount { get; init; }

    public required ClassList Classes { get; init; }
    public required InputShape InputShape { get; init; }
    public required NormalizationInfo Normalization { get; init; }
    public TrainingSummary? Training { get; init; }
    public FinalMetrics? FinalMetrics { get; init; }
    public DateTime CreatedUtc { get; init; }

    /// <summary>The exporter fills it.</summary>
    public FormatVersions? FormatVersions { get; init; }

    /// <summary>The exported files (beside the card) with their SHA-256; the exporter fills it.</summary>
    public IReadOnlyList<ExportedFile> Files { get; init; } = [];

    /// <summary>The network's input shape and class count.</summary>
    [JsonIgnore]
    public ModelSpec Spec => new(InputShape.Channels, InputShape.Height, InputShape.Width, Classes.Count);

    [JsonIgnore]
    public ImageShape ImageShape => new(InputShape.Channels, InputShape.Height, InputShape.Width);

    /// <summary>The normalisation to apply to uint8 inputs.</summary>
    public Data.Normalization ToNormalization() => new(Normalization.Mean.ToArray(), Normalization.Std.ToArray());

    /// <summary>What the network does (classification or detection): its architecture's task in <see cref="ModelRegistry"/>.</summary>
    /// <exception cref="ArgumentException">The architecture is unknown to this build (a loaded card never is: <see cref="Validate"/> refuses it).</exception>
    [JsonIgnore]
    public TaskKind Task => ModelRegistry.Get(Architecture).Task;

    /// <summary>
    /// A card for a network trained on a dataset with <paramref name="classNames"/>; files, versions and parameter count are left to
    /// the exporter. <paramref name="finalMetrics"/>: the model's test metrics at the end of training, of either task.
    /// </summary>
    public static ModelCard Create(string modelId, string role, string architecture, ModelSpec spec, IReadOnlyList<string> classNames,
        Data.Normalization normalization, TrainingSummary? training = null, IModelMetrics? finalMetrics = null, DateTime? createdUtc = null) => new()
    {
        ModelId = modelId,
        Architecture = architecture,
        Role = role,
        Classes = new ClassList(classNames.Count, classNames.ToArray()),
        InputShape = new InputShape(spec.Channels, spec.Height, spec.Width),
        Normalization = new NormalizationInfo(normalization.Mean.ToArray(), normalization.Std.ToArray()),
        Training = training,
        FinalMetrics = finalMetrics is null ? null : Export.FinalMetrics.From(finalMetrics),
        CreatedUtc = createdUtc ?? DateTime.UtcNow,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates a card; <paramref name="source"/> names it in errors.</summary>
    public static ModelCard FromJson(string json, string source)
    {
        ModelCard? card;
        try
        {
            card = JsonSerializer.Deserialize<ModelCard>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new ModelExportException($"Model card '{source}' is not a valid model card: {e.Message}", e) { Path = source };
        }
        if (card is null) throw new ModelExportException($"Model card '{source}' is empty (JSON null).") { Path = source };
        var problems = card.Validate();
        if (problems.Count > 0)
            throw new ModelExportException($"Model card '{source}' is invalid: {string.Join(" ", problems)}") { Path = source };
        return card;
    }

    /// <summary>Reads and validates the card at <paramref name="path"/>; a missing or unreadable file is a <see cref="ModelExportException"/> naming it.</summary>
    public static ModelCard Load(string path)
    {
        if (Directory.Exists(path))
            throw new ModelExportException($"Model card '{path}' is a directory; give the exported model's .json file.") { Path = path };
        if (!File.Exists(path))
            throw new ModelExportException($"Model card '{path}' does not exist; give the .json file written beside the exported .dat and .safetensors.") { Path = path };
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelExportException($"Model card '{path}' cannot be read: {e.Message}", e) { Path = path };
        }
        return FromJson(json, path);
    }

    /// <summary>Problems with this card, one sentence each; empty when it is usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(ModelId)) problems.Add("model_id is empty.");
        if (string.IsNullOrWhiteSpace(Architecture)) problems.Add("architecture is empty.");
        else if (!ModelRegistry.IsKnown(Architecture))
            problems.Add($"architecture '{Architecture}' is unknown to this build. Known: {string.Join(", ", ModelRegistry.Names)}.");
        if (Classes is null || InputShape is null || Normalization is null)
        {
            problems.Add("classes, input_shape and normalization are required.");
            return problems;
        }
        // At least 2 classes for a classifier, 1 for a detector: ModelRegistry.Validate below says which, for the architecture.
        if (Classes.Count < 1) problems.Add($"classes.count is {Classes.Count}; at least 1 is needed.");
        if (Classes.Names is null || Classes.Names.Count != Classes.Count)
            problems.Add($"classes.names holds {Classes.Names?.Count ?? 0} names for {Classes.Count} classes.");
        if (InputShape.Channels < 1 || InputShape.Height < 1 || InputShape.Width < 1)
            problems.Add($"input_shape {InputShape.Channels}x{InputShape.Height}x{InputShape.Width} is not a valid image shape.");
        var mean = Normalization.Mean ?? [];
        var std = Normalization.Std ?? [];
        if (mean.Count != std.Count || (mean.Count != 1 && mean.Count != InputShape.Channels))
            problems.Add($"normalization has {mean.Count} means and {std.Count} stds for {InputShape.Channels} channel(s).");
        if (std.Any(s => !(s > 0))) problems.Add("normalization.std must be positive.");
        if (FormatVersions is { Card: > CurrentFormatVersion })
            problems.Add($"format_versions.card is {FormatVersions.Card}; this build reads up to {CurrentFormatVersion}.");
        if (problems.Count == 0 && ModelRegistry.IsKnown(Architecture) && ModelRegistry.Validate(Architecture, Spec, ModelRegistry.Get(Architecture).Task) is { } why)
            problems.Add(why + ".");
        foreach (var file in Files ?? [])
            if (string.IsNullOrWhiteSpace(file.Name) || file.Name != System.IO.Path.GetFileName(file.Name))
                problems.Add($"file name '{file.Name}' must be a plain file name beside the card.");
        return problems;
    }
}

public sealed record ClassList(int Count, IReadOnlyList<string> Names);

/// <summary>Channel-first input shape.</summary>
public sealed record InputShape(int Channels, int Height, int Width)
{
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}

/// <summary>Per-channel (x/255 - mean) / std; one value applies to every channel.</summary>
public sealed record NormalizationInfo(IReadOnlyList<float> Mean, IReadOnlyList<float> Std);

/// <summary>How the model was trained.</summary>
/// <param name="Dataset">The dataset name as configured (fashion-mnist, mnist, folder, synthetic).</param>
/// <param name="Mode">Distillation mode (independent, kd, ml, kd-ml).</param>
/// <param name="Epochs">Epochs trained.</param>
/// <param name="Steps">Optimizer steps applied to this model.</param>
/// <param name="Seed">The run seed.</param>
/// <param name="ModelSeed">This model's own seed (derived from the run seed and its cohort slot), when known.</param>
/// <param name="BatchSize">Training batch size, when known.</param>
public sealed record TrainingSummary(string Dataset, string Mode, int Epochs, long Steps, long Seed, long? ModelSeed = null, int? BatchSize = null);

/// <summary>
/// The model's test metrics at the end of training, of either task. <see cref="Values"/> holds every defined metric by its
/// eval.csv name (classification: accuracy, macro_f1, nll, auc, ...; detection: map50, map50_95, detections, ground_truths and
/// ap50_CLASS per class). A classifier's card also carries its scores as named fields, as cards always have (AUC, sensitivity
/// and specificity only for two classes); a detector's leaves them out. Cards written before <see cref="Values"/> existed
/// have only the named fields, and load as they are.
/// </summary>
/// <param name="Count">Images scored.</param>
/// <param name="Values">Every defined, finite metric by name; null in cards written before it existed.</param>
public sealed record FinalMetrics(double? Accuracy, double? MacroF1, double? Nll = null, double? Auc = null, double? Sensitivity = null,
    double? Specificity = null, int? Count = null, IReadOnlyDictionary<string, double>? Values = null)
{
    /// <summary>The card's record of <paramref name="m"/>: its columns and table columns by name (finite values only).</summary>
    public static FinalMetrics From(IModelMetrics m)
    {
        var values = new Dictionary<string, double>();
        foreach (var column in m.Columns.Concat(m.TableColumns))
            if (column.Value is { } v && double.IsFinite(v)) values.TryAdd(column.Name, v);
        double? Named(string name) => values.TryGetValue(name, out var v) ? v : null;
        return new(Named("accuracy"), Named("macro_f1"), Named("nll"), Named("auc"), Named("sensitivity"), Named("specificity"), m.Count, values);
    }
}

/// <summary>Versions of the formats an export uses.</summary>
/// <param name="Card">Layout of this card (<see cref="ModelCard.CurrentFormatVersion"/>).</param>
/// <param name="Torchsharp">TorchSharp version that wrote the .dat file (its own <c>Module.save</c> format).</param>
/// <param name="Safetensors">Safetensors layout version (the format has one: 8-byte header length, JSON header, raw little-endian data).</param>
public sealed record FormatVersions(int Card, string Torchsharp, int Safetensors);

/// <summary>One exported file, named relative to the card's folder.</summary>
/// <param name="Format">"torchsharp" (Module.save) or "safetensors".</param>
public sealed record ExportedFile(string Name, string Format, string Sha256, long Bytes);

/// <summary>An export could not be written or read: a missing, corrupt or mismatched file, or an invalid card. The message names the file.</summary>
public sealed class ModelExportException : Exception
{
    public ModelExportException(string message) : base(message) { }

    public ModelExportException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>The file the error is about, when there is one.</summary>
    public string? Path { get; init; }
}
