using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using TorchSharp;

namespace P2PDistill.Shared.Onnx;

/// <summary>
/// ONNX export of the registry's classifiers and detectors (issue 15), written with OnnxSharp's protobuf model classes (opset
/// <see cref="Opset"/>, IR version <see cref="IrVersion"/>), checked against ONNX Runtime by the tests.
/// <para><b>Input</b> <c>input</c>: float32 [batch, C, H, W], channel-first, of the model card's input shape; the batch is
/// dynamic (dim_param <c>batch</c>), H and W are fixed (a detector's map layout depends on them). It takes <b>raw pixel values
/// 0–255</b> (the uint8 range, as floats): the card's normalisation, (x/255 − mean[c]) / std[c], is folded into the graph as its
/// first nodes (Div, Sub, Div), exactly as training computed it, and is also recorded in the model's metadata_props.</para>
/// <para><b>Outputs of a classifier</b>: <c>probabilities</c>, float32 [batch, classes], the softmax over the classes (the main
/// output, first); <c>logits</c>, the network's output before softmax.</para>
/// <para><b>Outputs of a detector</b> (det-teacher, det-student): <c>probabilities</c>, float32 [batch, L, C + 4B], the dense map
/// as probabilities (<see cref="DetectionEnsemble.ToProbabilities"/>: σ of each class logit, softmax over each side's B bins;
/// the main output, first); <c>map</c>, the network's dense map of raw logits. The layout (<see cref="DetectionLayout"/>:
/// classes, bins, strides, levels, L) and how to decode boxes are in the metadata (<c>layout</c>, <c>decoding</c>).</para>
/// <para>The student ensemble (<see cref="BuildEnsemble"/>) has one output, <c>probabilities</c>: the mean of its members'
/// probabilities (softmax; for detectors the probability maps), as the run's ensemble is.</para>
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

    /// <summary>A detector's output of raw logits, [batch, L, C + 4B] (its <see cref="ProbabilitiesName"/> is the same map as probabilities).</summary>
    public const string MapName = "map";

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
    public static IReadOnlyList<string> Architectures { get; } = ["cnn-student", "cnn-teacher", "det-student", "det-teacher", "mlp", "mobilenet-v2", "resnet18", "tiny"];

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
        return $"'{info.Name}' has no ONNX export yet (ONNX export covers {supported})";
    }

    public static bool Supports(string architecture) => WhyNot(architecture) is null;

    /// <summary>Version of P2PDistill written as the producer.</summary>
    public static string ProducerVersion { get; } =
        typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    /// <summary>
    /// The ONNX model of <paramref name="network"/> (a network of <paramref name="card"/>'s architecture and spec, weights as they
    /// are now), with the card's normalisation folded in and recorded in the metadata. A classifier's outputs are
    /// <c>probabilities</c> and <c>logits</c>; a detector's <c>probabilities</c> and <c>map</c>, with its layout in the metadata.
    /// </summary>
    /// <exception cref="ModelExportException">The architecture has no ONNX export, or the network is not what the card says.</exception>
    public static ModelProto Build(torch.nn.Module<torch.Tensor, torch.Tensor> network, ModelCard card)
    {
        ArgumentNullException.ThrowIfNull(network);
        CheckExportable(card);
        var graph = new OnnxGraphBuilder(card.Architecture);
        var input = Input(graph, card);
        ModelProto model;
        if (card.Task == TaskKind.Detection)
        {
            var layout = LayoutOf(network, card);
            var map = DetectorMember(graph, network, card, layout, input);
            graph.NodeExact("Identity", [map], MapName);
            DetectionProbabilities(graph, MapName, layout, ProbabilitiesName, exact: true);
            graph.Graph.Output.Add(OnnxGraphBuilder.FloatValue(ProbabilitiesName, ProbabilitiesDoc(layout) + " (the main output)", null, layout.Locations, layout.RowWidth));
            graph.Graph.Output.Add(OnnxGraphBuilder.FloatValue(MapName, MapDoc(layout), null, layout.Locations, layout.RowWidth));
            model = NewModel(graph.Graph, $"P2PDistill {card.Role} '{card.ModelId}' ({card.Architecture}): a detector of {card.Classes.Count} classes, " +
                $"input {card.InputShape} (height and width fixed), dense map of {layout.Locations} locations x {layout.RowWidth} values.");
            ModelMetadata(model, card);
            DetectionMetadata(model, layout);
            Metadata(model, "outputs", $"{ProbabilitiesName}: {ProbabilitiesDoc(layout)} (main output); {MapName}: {MapDoc(layout)}");
        }
        else
        {
            var logits = ClassifierMember(graph, network, card, input);
            graph.NodeExact("Identity", [logits], LogitsName);
            graph.NodeExact("Softmax", [LogitsName], ProbabilitiesName, OnnxGraphBuilder.Int("axis", 1));
            graph.Graph.Output.Add(OnnxGraphBuilder.FloatValue(ProbabilitiesName, "softmax over the classes (the main output)", null, card.Classes.Count));
            graph.Graph.Output.Add(OnnxGraphBuilder.FloatValue(LogitsName, "the network's output before softmax", null, card.Classes.Count));
            model = NewModel(graph.Graph, $"P2PDistill {card.Role} '{card.ModelId}' ({card.Architecture}): {card.Classes.Count} classes, input {card.InputShape}.");
            ModelMetadata(model, card);
            Metadata(model, "outputs", $"{ProbabilitiesName}: softmax over the classes (main output); {LogitsName}: before softmax");
        }
        Metadata(model, MacsKey, graph.MultiplyAccumulates.ToString(CultureInfo.InvariantCulture));
        return model;
    }

    /// <summary>
    /// The student ensemble as one graph: every member's subgraph side by side (names prefixed with its model id), each with its own
    /// card's normalisation and its probabilities (a classifier's softmax; a detector's probability map, class sigmoids and side
    /// softmaxes), and the output <c>probabilities</c> their mean (ONNX Mean): what the run's ensemble evaluates.
    /// </summary>
    /// <exception cref="ModelExportException">
    /// No member, a member without ONNX export, members of different input shape or classes, or classifiers and detectors mixed
    /// (or detectors of different bins or strides).
    /// </exception>
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
            if (card.Task != first.Task)
                throw new ModelExportException($"The models of one ensemble must all be classifiers or all detectors: '{first.ModelId}' ({first.Architecture}) " +
                    $"is a {first.Task.SettingName()} model and '{card.ModelId}' ({card.Architecture}) a {card.Task.SettingName()} model.");
        }
        bool detection = first.Task == TaskKind.Detection;
        var layouts = members.Select(m => detection ? LayoutOf(m.Network, m.Card) : null).ToList();
        var layout = layouts[0];
        for (int i = 1; i < members.Count && detection; i++)
            if (layouts[i]!.Bins != layout!.Bins || !layouts[i]!.Levels.Select(l => l.Stride).SequenceEqual(layout.Levels.Select(l => l.Stride)))
                throw new ModelExportException($"The detectors of one ensemble must share their map layout: '{first.ModelId}' has {layout.Bins} bins and strides " +
                    $"{Strides(layout)}, '{members[i].Card.ModelId}' {layouts[i]!.Bins} bins and strides {Strides(layouts[i]!)}.");

        var graph = new OnnxGraphBuilder("ensemble");
        var input = Input(graph, first);
        var probabilities = new List<string>();
        var prefixes = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < members.Count; i++)
        {
            var (network, card) = members[i];
            var prefix = Sanitize(card.ModelId);
            if (!prefixes.Add(prefix)) prefixes.Add(prefix = $"{prefix}-{i + 1}");
            graph.Prefix = prefix + "/";
            if (detection)
            {
                var map = DetectorMember(graph, network, card, layouts[i]!, input);
                probabilities.Add(DetectionProbabilities(graph, map, layouts[i]!, ProbabilitiesName, exact: false));
            }
            else
            {
                var logits = ClassifierMember(graph, network, card, input);
                probabilities.Add(graph.Node("Softmax", [logits], ProbabilitiesName, OnnxGraphBuilder.Int("axis", 1)));
            }
        }
        graph.Prefix = "";
        graph.NodeExact("Mean", probabilities, ProbabilitiesName);
        var what = detection ? "probability maps (class sigmoids, side softmaxes)" : "softmax";
        graph.Graph.Output.Add(detection
            ? OnnxGraphBuilder.FloatValue(ProbabilitiesName, $"mean of the {members.Count} members' {what}, [{BatchDimension}, {layout!.Locations}, {layout.RowWidth}]", null, layout.Locations, layout.RowWidth)
            : OnnxGraphBuilder.FloatValue(ProbabilitiesName, $"mean of the {members.Count} members' {what}", null, first.Classes.Count));

        var model = NewModel(graph.Graph, $"P2PDistill student ensemble of {members.Count}: mean of the {what} of " +
            $"{string.Join(", ", members.Select(m => $"'{m.Card.ModelId}' ({m.Card.Architecture})"))}; {first.Classes.Count} classes, input {first.InputShape}" +
            (detection ? $" (height and width fixed), {layout!.Locations} locations x {layout.RowWidth} values." : "."));
        Metadata(model, "kind", "ensemble");
        Metadata(model, "task", first.Task.SettingName());
        Metadata(model, "members", JsonSerializer.Serialize(members.Select(m => new
        {
            model_id = m.Card.ModelId,
            architecture = m.Card.Architecture,
            normalization = new { mean = m.Card.Normalization.Mean, std = m.Card.Normalization.Std },
        })));
        CommonMetadata(model, first, $"each member's own: ({InputName} / 255 - mean[c]) / std[c], folded into the graph: feed raw pixel values 0-255");
        if (detection) DetectionMetadata(model, layout!);
        Metadata(model, "outputs", $"{ProbabilitiesName}: mean of the members' {what}" +
            (detection ? $", [{BatchDimension}, {layout!.Locations}, {layout.RowWidth}] laid out as {MetadataPrefix}layout says" : " over the classes"));
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

    /// <summary>The graph input <c>input</c>, [batch, C, H, W] of the card's shape.</summary>
    private static string Input(OnnxGraphBuilder graph, ModelCard card)
    {
        var input = graph.Exact(InputName);
        graph.Graph.Input.Add(OnnxGraphBuilder.FloatValue(input, InputDoc(card), null, card.InputShape.Channels, card.InputShape.Height, card.InputShape.Width));
        return input;
    }

    /// <summary>Normalisation then the network, from <paramref name="input"/>; returns the network's output value.</summary>
    private static OnnxValue Member(OnnxGraphBuilder graph, torch.nn.Module<torch.Tensor, torch.Tensor> network, ModelCard card, string input)
    {
        var shape = card.InputShape;
        var mean = card.Normalization.Mean.ToArray();
        var std = card.Normalization.Std.ToArray();
        // As training's lookup table computes it, in float32: (v / 255f - mean) / std; one value applies to every channel.
        var scaled = graph.Node("Div", [input, graph.Initializer("pixel_scale", [255f])], "scaled");
        var centred = graph.Node("Sub", [scaled, graph.Initializer("normalization_mean", mean, 1, mean.Length, 1, 1)], "centred");
        var normalised = graph.Node("Div", [centred, graph.Initializer("normalization_std", std, 1, std.Length, 1, 1)], "normalised");

        var emitter = new OnnxModuleEmitter(graph, $"'{card.ModelId}' ({card.Architecture})");
        return emitter.Emit(network, new OnnxValue(normalised, [shape.Channels, shape.Height, shape.Width]), "");
    }

    /// <summary>A classifier member: returns the name of its logits, [batch, classes].</summary>
    private static string ClassifierMember(OnnxGraphBuilder graph, torch.nn.Module<torch.Tensor, torch.Tensor> network, ModelCard card, string input)
    {
        var output = Member(graph, network, card, input);
        if (output.Shape.Length != 1 || output.Shape[0] != card.Classes.Count)
            throw new ModelExportException($"Cannot export '{card.ModelId}' ({card.Architecture}) to ONNX: the network ends in {output}, " +
                $"not [batch, {card.Classes.Count}] class scores.");
        return output.Name;
    }

    /// <summary>A detector member: returns the name of its dense map of logits, [batch, L, C + 4B] as <paramref name="layout"/> says.</summary>
    private static string DetectorMember(OnnxGraphBuilder graph, torch.nn.Module<torch.Tensor, torch.Tensor> network, ModelCard card, DetectionLayout layout, string input)
    {
        var output = Member(graph, network, card, input);
        if (output.Shape.Length != 2 || output.Shape[0] != layout.Locations || output.Shape[1] != layout.RowWidth)
            throw new ModelExportException($"Cannot export '{card.ModelId}' ({card.Architecture}) to ONNX: the network ends in {output}, " +
                $"not the dense map [batch, {layout.Locations}, {layout.RowWidth}] of its layout.");
        return output.Name;
    }

    /// <summary>The map layout of a detector network for the card's input size; the network must be a <see cref="Detector"/> of the card's classes.</summary>
    private static DetectionLayout LayoutOf(torch.nn.Module<torch.Tensor, torch.Tensor> network, ModelCard card)
    {
        if (network is not Detector detector)
            throw new ModelExportException($"Cannot export '{card.ModelId}' ({card.Architecture}) to ONNX: the card describes a detector and the network " +
                $"is a {network.GetType().Name}.");
        var layout = detector.Layout(card.InputShape.Height, card.InputShape.Width);
        if (layout.Classes != card.Classes.Count)
            throw new ModelExportException($"Cannot export '{card.ModelId}' ({card.Architecture}) to ONNX: the network detects {layout.Classes} classes, " +
                $"the card says {card.Classes.Count}.");
        return layout;
    }

    /// <summary>
    /// <see cref="DetectionEnsemble.ToProbabilities"/> as nodes: the map [batch, L, C + 4B] split into its class columns, through
    /// Sigmoid, and its side columns, reshaped to [batch, L, 4, B] for a Softmax over each side's bins and back to [batch, L, 4B];
    /// concatenated again. Returns the output's name (exactly <paramref name="output"/> when <paramref name="exact"/>).
    /// </summary>
    private static string DetectionProbabilities(OnnxGraphBuilder graph, string map, DetectionLayout layout, string output, bool exact)
    {
        long sides = 4L * layout.Bins;
        var split = graph.Int64Initializer("split_classes_sides", [layout.Classes, sides], 2);
        var parts = graph.NodeOutputs("Split", [map, split], ["class_logits", "side_logits"], OnnxGraphBuilder.Int("axis", 2));
        var classes = graph.Node("Sigmoid", [parts[0]], "class_probabilities");
        var bins = graph.Node("Reshape", [parts[1], graph.Int64Initializer("side_bins_shape", [0, 0, 4, layout.Bins], 4)], "side_bins");
        var softmax = graph.Node("Softmax", [bins], "side_bin_probabilities", OnnxGraphBuilder.Int("axis", 3));
        var rows = graph.Node("Reshape", [softmax, graph.Int64Initializer("side_rows_shape", [0, 0, sides], 3)], "side_probabilities");
        var axis = OnnxGraphBuilder.Int("axis", 2);
        return exact ? graph.NodeExact("Concat", [classes, rows], output, axis) : graph.Node("Concat", [classes, rows], output, axis);
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

    /// <summary>The metadata of one model (<see cref="Build"/>): what it is, its card, classes, input and normalisation.</summary>
    private static void ModelMetadata(ModelProto model, ModelCard card)
    {
        Metadata(model, "kind", "model");
        Metadata(model, "task", card.Task.SettingName());
        Metadata(model, "model_id", card.ModelId);
        Metadata(model, "architecture", card.Architecture);
        Metadata(model, "role", card.Role);
        Metadata(model, "model_card", (card with { Files = [] }).ToJson());
        CommonMetadata(model, card, $"({InputName} / 255 - mean[c]) / std[c], folded into the graph: feed raw pixel values 0-255");
        Metadata(model, "normalization.mean", JsonSerializer.Serialize(card.Normalization.Mean));
        Metadata(model, "normalization.std", JsonSerializer.Serialize(card.Normalization.Std));
    }

    /// <summary>
    /// A detector's map layout (<c>layout</c>, JSON: classes, bins, strides, locations L, row width D, the levels' grids and the
    /// side columns), how its rows become boxes (<c>decoding</c>, in words), and P2PDistill's decoding settings (<c>decode_defaults</c>).
    /// </summary>
    private static void DetectionMetadata(ModelProto model, DetectionLayout layout)
    {
        Metadata(model, "layout", JsonSerializer.Serialize(new
        {
            classes = layout.Classes,
            bins = layout.Bins,
            strides = layout.Levels.Select(l => l.Stride),
            locations = layout.Locations,
            row_width = layout.RowWidth,
            height = layout.Height,
            width = layout.Width,
            levels = layout.Levels.Select(l => new { stride = l.Stride, rows = l.Rows, columns = l.Columns, first_location = l.FirstLocation, locations = l.Locations }),
            side_columns = new { left = layout.SideColumn(0), top = layout.SideColumn(1), right = layout.SideColumn(2), bottom = layout.SideColumn(3) },
        }));
        Metadata(model, "decoding",
            $"Per image {layout.Locations} locations (rows) of {layout.RowWidth} values, level by level (strides {Strides(layout)}), row-major inside a level: " +
            "location i of the level with stride s, grid columns w and first location f sits at grid row r = (i - f) / w, column c = (i - f) % w, " +
            "point ((c + 0.5)*s, (r + 0.5)*s) in pixels of the network input. " +
            $"Columns 0..{layout.Classes - 1}: the classes' scores ({ProbabilitiesName}: sigmoid of the {MapName}'s logits). " +
            $"Columns {layout.Classes}..{layout.RowWidth - 1}: the left, top, right and bottom side distributions of {layout.Bins} bins each " +
            $"({ProbabilitiesName}: softmax over each side's bins); a side's distance from the point is s * sum_k k * p_k pixels (bin k: k strides). " +
            "The box of a (location, class) pair is (x - left, y - top, x + right, y + bottom), clipped to the input. " +
            "P2PDistill keeps the pairs whose score is above score_threshold, the pre_nms_top best, applies class-wise NMS at nms_iou " +
            $"and keeps at most max_detections per image ({MetadataPrefix}decode_defaults). An ensemble decodes the mean of its members' {ProbabilitiesName} the same way.");
        var defaults = DetectionDecodeOptions.Default;
        Metadata(model, "decode_defaults", JsonSerializer.Serialize(new
        {
            score_threshold = defaults.ScoreThreshold,
            pre_nms_top = defaults.PreNmsTop,
            nms_iou = defaults.NmsIou,
            max_detections = defaults.MaxDetections,
        }));
    }

    private static string ProbabilitiesDoc(DetectionLayout layout) =>
        $"the dense map as probabilities, [{BatchDimension}, {layout.Locations}, {layout.RowWidth}]: sigmoid of the {layout.Classes} class logits, " +
        $"softmax over each side's {layout.Bins} bins";

    private static string MapDoc(DetectionLayout layout) =>
        $"the network's dense map of raw logits, [{BatchDimension}, {layout.Locations}, {layout.RowWidth}]: {layout.Classes} class logits, " +
        $"then 4 sides x {layout.Bins} bins";

    private static string Strides(DetectionLayout layout) => string.Join(", ", layout.Levels.Select(l => l.Stride));

    private static void CommonMetadata(ModelProto model, ModelCard card, string normalization)
    {
        Metadata(model, "classes", JsonSerializer.Serialize(card.Classes.Names));
        Metadata(model, "input_shape", card.InputShape.ToString());
        Metadata(model, "input", InputDoc(card));
        Metadata(model, "normalization", normalization);
    }

    private static string InputDoc(ModelCard card) =>
        $"float32 [{BatchDimension}, {card.InputShape.Channels}, {card.InputShape.Height}, {card.InputShape.Width}], channel-first, " +
        "raw pixel values 0-255 (the uint8 range); the normalisation is inside the graph" +
        (card.Task == TaskKind.Detection ? $"; height and width are fixed at {card.InputShape.Height}x{card.InputShape.Width} (the map's layout depends on them)" : "");

    private static void Metadata(ModelProto model, string key, string value) =>
        model.MetadataProps.Add(new StringStringEntryProto { Key = MetadataPrefix + key, Value = value });

    /// <summary>A model id as a name prefix: letters, digits, '-', '_' and '.' kept, anything else '_'.</summary>
    private static string Sanitize(string id)
    {
        var chars = id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return chars.Length == 0 ? "member" : new string(chars);
    }
}
