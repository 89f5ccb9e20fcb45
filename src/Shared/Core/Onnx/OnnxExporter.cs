using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using TorchSharp;

namespace P2PDistill.Shared.Onnx;

/// <summary>
/// ONNX export of the registry's classifiers (issue 15), written with OnnxSharp's protobuf model classes (opset
/// <see cref="Opset"/>, IR version <see cref="IrVersion"/>), checked against ONNX Runtime by the tests.
/// <para><b>Input</b> <c>input</c>: float32 [batch, C, H, W], channel-first, of the model card's input shape; the batch is
/// dynamic (dim_param <c>batch</c>). It takes <b>raw pixel values 0–255</b> (the uint8 range, as floats): the card's
/// normalisation, (x/255 − mean[c]) / std[c], is folded into the graph as its first nodes (Div, Sub, Div), exactly as
/// training computed it, and is also recorded in the model's metadata_props.</para>
/// <para><b>Outputs</b>: <c>probabilities</c>, float32 [batch, classes], the softmax over the classes (the main output, first);
/// <c>logits</c>, the network's output before softmax. The student ensemble (<see cref="BuildEnsemble"/>) has one output,
/// <c>probabilities</c>: the mean of its members' softmax, as the run's ensemble is.</para>
/// <para>Dropout is left out (inference), batch normalisation uses the running statistics (evaluation mode).</para>
/// </summary>
public static class OnnxExporter
{
    /// <summary>ONNX operator set of every exported graph.</summary>
    public const long Opset = 17;

    /// <summary>ONNX IR version of the files (IR 8 goes with opset 17).</summary>
    public const long IrVersion = 8;

    public const string Format = "onnx";
    public const string Extension = ".onnx";
    public const string InputName = "input";
    public const string ProbabilitiesName = "probabilities";
    public const string LogitsName = "logits";

    /// <summary>The name of the dynamic first dimension of the input and outputs.</summary>
    public const string BatchDimension = "batch";

    /// <summary>
    /// Metadata key (after <see cref="MetadataPrefix"/>) of the multiply-accumulates per image of the graph's convolutions and fully
    /// connected layers (an ensemble: of all its members).
    /// </summary>
    public const string MacsKey = "macs_per_image";

    /// <summary>Prefix of this exporter's metadata_props keys.</summary>
    public const string MetadataPrefix = "p2pdistill.";

    /// <summary>The architectures with an ONNX export, by <see cref="ModelRegistry"/> name.</summary>
    public static IReadOnlyList<string> Architectures { get; } = ["cnn-student", "cnn-teacher", "mlp", "mobilenet-v2", "resnet18", "tiny"];

    /// <summary>Null when <paramref name="architecture"/> exports to ONNX, else why not (a sentence that says what to do).</summary>
    public static string? WhyNot(string architecture)
    {
        if (Architectures.Contains(architecture, StringComparer.OrdinalIgnoreCase)) return null;
        var supported = string.Join(", ", Architectures);
        if (!ModelRegistry.IsKnown(architecture))
            return $"architecture '{architecture}' is unknown to this build (ONNX export covers {supported})";
        var info = ModelRegistry.Get(architecture);
        if (info.ForBenchmarks)
            return $"'{info.Name}' is a benchmark model that ignores its input; it has no ONNX export (ONNX export covers {supported})";
        if (info.Task == TaskKind.Detection)
            return $"'{info.Name}' is a detector, and ONNX export of detectors is not implemented yet (ONNX export covers the classifiers {supported})";
        return $"'{info.Name}' has no ONNX export yet (ONNX export covers {supported})";
    }

    public static bool Supports(string architecture) => WhyNot(architecture) is null;

    /// <summary>Version of P2PDistill written as the producer.</summary>
    public static string ProducerVersion { get; } =
        typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    /// <summary>
    /// The ONNX model of <paramref name="network"/> (a network of <paramref name="card"/>'s architecture and spec, weights as they
    /// are now), with the card's normalisation folded in and recorded in the metadata.
    /// </summary>
    /// <exception cref="ModelExportException">The architecture has no ONNX export, or the network is not what the card says.</exception>
    public static ModelProto Build(torch.nn.Module<torch.Tensor, torch.Tensor> network, ModelCard card)
    {
        ArgumentNullException.ThrowIfNull(network);
        CheckExportable(card);
        var graph = new OnnxGraphBuilder(card.Architecture);
        var input = graph.Exact(InputName);
        graph.Graph.Input.Add(OnnxGraphBuilder.FloatValue(input, InputDoc(card), null, card.InputShape.Channels, card.InputShape.Height, card.InputShape.Width));
        var logits = Member(graph, network, card, input);
        graph.NodeExact("Identity", [logits], LogitsName);
        graph.NodeExact("Softmax", [LogitsName], ProbabilitiesName, OnnxGraphBuilder.Int("axis", 1));
        graph.Graph.Output.Add(OnnxGraphBuilder.FloatValue(ProbabilitiesName, "softmax over the classes (the main output)", null, card.Classes.Count));
        graph.Graph.Output.Add(OnnxGraphBuilder.FloatValue(LogitsName, "the network's output before softmax", null, card.Classes.Count));

        var model = NewModel(graph.Graph, $"P2PDistill {card.Role} '{card.ModelId}' ({card.Architecture}): {card.Classes.Count} classes, input {card.InputShape}.");
        Metadata(model, "kind", "model");
        Metadata(model, "model_id", card.ModelId);
        Metadata(model, "architecture", card.Architecture);
        Metadata(model, "role", card.Role);
        Metadata(model, "model_card", (card with { Files = [] }).ToJson());
        CommonMetadata(model, card, $"({InputName} / 255 - mean[c]) / std[c], folded into the graph: feed raw pixel values 0-255");
        Metadata(model, "normalization.mean", JsonSerializer.Serialize(card.Normalization.Mean));
        Metadata(model, "normalization.std", JsonSerializer.Serialize(card.Normalization.Std));
        Metadata(model, "outputs", $"{ProbabilitiesName}: softmax over the classes (main output); {LogitsName}: before softmax");
        Metadata(model, MacsKey, graph.MultiplyAccumulates.ToString(CultureInfo.InvariantCulture));
        return model;
    }

    /// <summary>
    /// The student ensemble as one graph: every member's subgraph side by side (names prefixed with its model id), each with its own
    /// card's normalisation and its softmax, and the output <c>probabilities</c> their mean (ONNX Mean).
    /// </summary>
    /// <exception cref="ModelExportException">No member, a member without ONNX export, or members of different input shape or classes.</exception>
    public static ModelProto BuildEnsemble(IReadOnlyList<(torch.nn.Module<torch.Tensor, torch.Tensor> Network, ModelCard Card)> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        if (members.Count == 0) throw new ModelExportException("An ensemble needs at least one model.");
        var first = members[0].Card;
        foreach (var (network, card) in members)
        {
            ArgumentNullException.ThrowIfNull(network);
            CheckExportable(card);
            if (card.InputShape != first.InputShape || !card.Classes.Names.SequenceEqual(first.Classes.Names, StringComparer.Ordinal))
                throw new ModelExportException($"The models of one ensemble must share input shape and classes: '{first.ModelId}' ({first.Architecture}, " +
                    $"{first.InputShape}, classes {string.Join(", ", first.Classes.Names)}) and '{card.ModelId}' ({card.Architecture}, {card.InputShape}, " +
                    $"classes {string.Join(", ", card.Classes.Names)}) do not.");
        }

        var graph = new OnnxGraphBuilder("ensemble");
        var input = graph.Exact(InputName);
        graph.Graph.Input.Add(OnnxGraphBuilder.FloatValue(input, InputDoc(first), null, first.InputShape.Channels, first.InputShape.Height, first.InputShape.Width));
        var probabilities = new List<string>();
        var prefixes = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < members.Count; i++)
        {
            var (network, card) = members[i];
            var prefix = Sanitize(card.ModelId);
            if (!prefixes.Add(prefix)) prefixes.Add(prefix = $"{prefix}-{i + 1}");
            graph.Prefix = prefix + "/";
            var logits = Member(graph, network, card, input);
            probabilities.Add(graph.Node("Softmax", [logits], ProbabilitiesName, OnnxGraphBuilder.Int("axis", 1)));
        }
        graph.Prefix = "";
        graph.NodeExact("Mean", probabilities, ProbabilitiesName);
        graph.Graph.Output.Add(OnnxGraphBuilder.FloatValue(ProbabilitiesName, $"mean of the {members.Count} members' softmax", null, first.Classes.Count));

        var model = NewModel(graph.Graph, $"P2PDistill student ensemble of {members.Count}: mean of the softmax of " +
            $"{string.Join(", ", members.Select(m => $"'{m.Card.ModelId}' ({m.Card.Architecture})"))}; {first.Classes.Count} classes, input {first.InputShape}.");
        Metadata(model, "kind", "ensemble");
        Metadata(model, "members", JsonSerializer.Serialize(members.Select(m => new
        {
            model_id = m.Card.ModelId,
            architecture = m.Card.Architecture,
            normalization = new { mean = m.Card.Normalization.Mean, std = m.Card.Normalization.Std },
        })));
        CommonMetadata(model, first, $"each member's own: ({InputName} / 255 - mean[c]) / std[c], folded into the graph: feed raw pixel values 0-255");
        Metadata(model, "outputs", $"{ProbabilitiesName}: mean of the members' softmax over the classes");
        // What the first member was trained on (data set, seed, ...), so that evaluate finds the data set the ensemble fits.
        if (first.Training is { } training) Metadata(model, "training", JsonSerializer.Serialize(training, ModelCard.JsonOptions));
        Metadata(model, MacsKey, graph.MultiplyAccumulates.ToString(CultureInfo.InvariantCulture));
        return model;
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically; returns its entry for a model card's file list.</summary>
    public static ExportedFile Write(ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        var bytes = model.ToByteArray();
        AtomicFile.Write(path, tmp => File.WriteAllBytes(tmp, bytes));
        return new ExportedFile(Path.GetFileName(path), Format, ModelExporter.Sha256(path), bytes.LongLength);
    }

    /// <summary>Reads an ONNX file written by this exporter (or any ONNX model); errors name the file.</summary>
    /// <exception cref="ModelExportException">The file is missing, unreadable or not an ONNX model.</exception>
    public static ModelProto Read(string path)
    {
        if (!File.Exists(path))
            throw new ModelExportException($"ONNX file '{path}' does not exist.") { Path = path };
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelExportException($"ONNX file '{path}' is not an ONNX model: {e.Message}", e) { Path = path };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelExportException($"ONNX file '{path}' cannot be read: {e.Message}", e) { Path = path };
        }
        // Protocol buffers parse many byte strings as some message: an ONNX model has an IR version, an opset and a graph.
        if (model.IrVersion <= 0 || model.OpsetImport.Count == 0 || model.Graph is null)
            throw new ModelExportException($"ONNX file '{path}' is not an ONNX model (no IR version, opset or graph).") { Path = path };
        return model;
    }

    /// <summary>The model's metadata_props as a dictionary (keys as written, with the <see cref="MetadataPrefix"/>).</summary>
    public static IReadOnlyDictionary<string, string> MetadataOf(ModelProto model) =>
        model.MetadataProps.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    private static void CheckExportable(ModelCard card)
    {
        ArgumentNullException.ThrowIfNull(card);
        var problems = card.Validate();
        if (problems.Count > 0)
            throw new ModelExportException($"Cannot export '{card.ModelId}' to ONNX: the model card is invalid: {string.Join(" ", problems)}");
        if (WhyNot(card.Architecture) is { } why)
            throw new ModelExportException($"Cannot export '{card.ModelId}' to ONNX: {why}.");
    }

    /// <summary>Normalisation then the network, from <paramref name="input"/>; returns the name of the logits value.</summary>
    private static string Member(OnnxGraphBuilder graph, torch.nn.Module<torch.Tensor, torch.Tensor> network, ModelCard card, string input)
    {
        var shape = card.InputShape;
        var mean = card.Normalization.Mean.ToArray();
        var std = card.Normalization.Std.ToArray();
        // As training's lookup table computes it, in float32: (v / 255f - mean) / std; one value applies to every channel.
        var scaled = graph.Node("Div", [input, graph.Initializer("pixel_scale", [255f])], "scaled");
        var centred = graph.Node("Sub", [scaled, graph.Initializer("normalization_mean", mean, 1, mean.Length, 1, 1)], "centred");
        var normalised = graph.Node("Div", [centred, graph.Initializer("normalization_std", std, 1, std.Length, 1, 1)], "normalised");

        var emitter = new OnnxModuleEmitter(graph, $"'{card.ModelId}' ({card.Architecture})");
        var output = emitter.Emit(network, new OnnxValue(normalised, [shape.Channels, shape.Height, shape.Width]), "");
        if (output.Shape.Length != 1 || output.Shape[0] != card.Classes.Count)
            throw new ModelExportException($"Cannot export '{card.ModelId}' ({card.Architecture}) to ONNX: the network ends in {output}, " +
                $"not [batch, {card.Classes.Count}] class scores.");
        return output.Name;
    }

    private static ModelProto NewModel(GraphProto graph, string doc)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "P2PDistill",
            ProducerVersion = ProducerVersion,
            ModelVersion = 1,
            DocString = doc,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    private static void CommonMetadata(ModelProto model, ModelCard card, string normalization)
    {
        Metadata(model, "classes", JsonSerializer.Serialize(card.Classes.Names));
        Metadata(model, "input_shape", card.InputShape.ToString());
        Metadata(model, "input", InputDoc(card));
        Metadata(model, "normalization", normalization);
    }

    private static string InputDoc(ModelCard card) =>
        $"float32 [{BatchDimension}, {card.InputShape.Channels}, {card.InputShape.Height}, {card.InputShape.Width}], channel-first, " +
        "raw pixel values 0-255 (the uint8 range); the normalisation is inside the graph";

    private static void Metadata(ModelProto model, string key, string value) =>
        model.MetadataProps.Add(new StringStringEntryProto { Key = MetadataPrefix + key, Value = value });

    /// <summary>A model id as a name prefix: letters, digits, '-', '_' and '.' kept, anything else '_'.</summary>
    private static string Sanitize(string id)
    {
        var chars = id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return chars.Length == 0 ? "member" : new string(chars);
    }
}
