using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Onnx;

/// <summary>A value of the graph being built: its name and its shape without the batch dimension ([C, H, W], [F], or a detector's [L, D]).</summary>
internal sealed record OnnxValue(string Name, long[] Shape)
{
    public override string ToString() => $"{Name} [batch, {string.Join(", ", Shape)}]";
}

/// <summary>
/// Maps a TorchSharp network of the registry, in evaluation mode, to ONNX nodes: module by module, weights as initializers,
/// shapes followed statically (the input's spatial size is the model card's; only the batch is dynamic).
/// <list type="bullet">
/// <item>Conv2d → Conv (kernel, strides, pads, dilations, group; zero padding only); BatchNorm2d → BatchNormalization with the
/// running statistics (inference); ReLU → Relu; ReLU6 → Clip(0, 6); MaxPool2d → MaxPool; Linear → Gemm (transB).</item>
/// <item>AdaptiveAvgPool2d → GlobalAveragePool for 1x1, AveragePool when the output divides the input, and otherwise the exact
/// window average as two MatMuls with averaging matrices (the windows of adaptive pooling overlap then).</item>
/// <item>Flatten(1, -1) → Flatten(axis 1); Dropout, SeededDropout and Identity are nothing at inference.</item>
/// <item>GroupNorm → at opset 17, which has no GroupNormalization (opset 18): Reshape to [batch, groups, rest],
/// InstanceNormalization (scale 1, bias 0: the mean and biased variance of each group), Reshape back, then the affine Mul and Add
/// per channel.</item>
/// <item>The networks' own forward code: CnnTeacher, CnnStudent, TinyNet, Mlp (their layers in order), ResNet and its basic
/// blocks (the shortcut as Add), MobileNetV2 and its inverted residuals (Add when stride 1 and the channels stay), and the
/// <see cref="Detector"/>: its nearest ×2 upsampling as Resize (nearest, asymmetric coordinates, floor: source pixel
/// ⌊x/2⌋, PyTorch's nearest), the top-down sum as Add, and per level the head (applied to both levels with the same
/// initializers), Concat of class and side logits, Reshape and Transpose to [h·w, C + 4B]; the levels concatenated to [L, C + 4B].</item>
/// </list>
/// Anything else is refused with a <see cref="ModelExportException"/> naming the module.
/// </summary>
internal sealed class OnnxModuleEmitter(OnnxGraphBuilder graph, string modelName)
{
    /// <summary>The names of <see cref="Detector"/>'s children, as its forward uses them.</summary>
    private static readonly string[] DetectorChildren = ["stem", "stage8", "stage16", "lateral8", "lateral16", "smooth8", "smooth16", "head", "classes", "sides"];

    private readonly Dictionary<string, string> weights = new(StringComparer.Ordinal);
    private string? clipMin;
    private string? clipMax;
    private string? upsampleScales;

    public OnnxValue Emit(nn.Module module, OnnxValue x, string path)
    {
        using var scope = NewDisposeScope();
        return module switch
        {
            CnnTeacher => Children(module, x, path, "features", "classifier"),
            CnnStudent or TinyNet or Mlp => Children(module, x, path, "layers"),
            ResNet => Children(module, x, path, "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"),
            BasicBlock => EmitBasicBlock(module, x, path),
            MobileNetV2 => Children(module, x, path, "features", "avgpool", "flatten", "classifier"),
            InvertedResidual => EmitInvertedResidual(module, x, path),
            Detector => EmitDetector(module, x, path),
            Sequential sequential => Sequence(sequential, x, path),
            Conv2d conv => EmitConv(conv, x, path),
            BatchNorm2d bn => EmitBatchNorm(bn, x, path),
            GroupNorm norm => EmitGroupNorm(norm, x, path),
            ReLU => EmitUnary("Relu", x, path),
            ReLU6 => EmitRelu6(x, path),
            MaxPool2d pool => EmitMaxPool(pool, x, path),
            AdaptiveAvgPool2d pool => EmitAdaptiveAveragePool(pool, x, path),
            Flatten flatten => EmitFlatten(flatten, x, path),
            Linear linear => EmitGemm(linear, x, path),
            SeededDropout or Dropout or Identity => x, // inference: dropout does nothing, identity is identity
            _ => throw Unsupported(module, path, "it has no ONNX mapping in this exporter"),
        };
    }

    private ModelExportException Unsupported(nn.Module module, string path, string why) =>
        new($"Cannot export {modelName} to ONNX: {(path.Length == 0 ? "the network" : $"module '{path}'")} ({module.GetType().Name}) is not supported: {why}.");

    private static Dictionary<string, nn.Module> ChildrenByName(nn.Module module) =>
        module.named_children().ToDictionary(c => c.name, c => c.module, StringComparer.Ordinal);

    private nn.Module Child(nn.Module module, string path, string name) =>
        ChildrenByName(module).TryGetValue(name, out var child) ? child : throw Unsupported(module, path, $"it has no child '{name}'");

    /// <summary>The named children applied in the given order (the order of the network's own forward).</summary>
    private OnnxValue Children(nn.Module module, OnnxValue x, string path, params string[] order)
    {
        var children = ChildrenByName(module);
        var unexpected = children.Keys.Except(order, StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw Unsupported(module, path, $"it has children this exporter does not know ({string.Join(", ", unexpected)})");
        foreach (var name in order)
        {
            if (!children.TryGetValue(name, out var child))
                throw Unsupported(module, path, $"it has no child '{name}'");
            x = Emit(child, x, Join(path, name));
        }
        return x;
    }

    private OnnxValue Sequence(Sequential sequential, OnnxValue x, string path)
    {
        foreach (var (name, child) in sequential.named_children())
            x = Emit(child, x, Join(path, name));
        return x;
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private OnnxValue EmitBasicBlock(nn.Module block, OnnxValue x, string path)
    {
        var children = ChildrenByName(block);
        var y = x;
        foreach (var name in new[] { "conv1", "bn1", "relu", "conv2", "bn2" })
            y = Emit(Child(block, path, name), y, Join(path, name));
        var shortcut = children.TryGetValue("downsample", out var downsample) ? Emit(downsample, x, Join(path, "downsample")) : x;
        var sum = Add(y, shortcut, Join(path, "add"));
        return Emit(children["relu"], sum, Join(path, "relu"));
    }

    /// <summary>The block's layers; the input is added back when the depthwise convolution has stride 1 and the channels stay (the block's own rule).</summary>
    private OnnxValue EmitInvertedResidual(nn.Module block, OnnxValue x, string path)
    {
        var conv = Child(block, path, "conv");
        bool strideOne = conv.modules().OfType<Conv2d>().All(c => c.stride.All(s => s == 1));
        var y = Emit(conv, x, Join(path, "conv"));
        return strideOne && y.Shape.SequenceEqual(x.Shape) ? Add(y, x, Join(path, "add")) : y;
    }

    private OnnxValue Add(OnnxValue a, OnnxValue b, string path)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
            throw new ModelExportException($"Cannot export {modelName} to ONNX: '{path}' adds {a} and {b}, whose shapes differ.");
        return new OnnxValue(graph.Node("Add", [a.Name, b.Name], path), a.Shape);
    }

    private OnnxValue EmitUnary(string op, OnnxValue x, string path) => new(graph.Node(op, [x.Name], path), x.Shape);

    private OnnxValue EmitRelu6(OnnxValue x, string path)
    {
        clipMin ??= graph.Initializer("relu6_min", [0f]);
        clipMax ??= graph.Initializer("relu6_max", [6f]);
        return new OnnxValue(graph.Node("Clip", [x.Name, clipMin, clipMax], path), x.Shape);
    }

    /// <summary>
    /// A module's tensor as a float32 initializer named <paramref name="name"/> (its path in the network), made once: a module applied
    /// twice (the detector's head, shared by its levels) uses the same initializer both times.
    /// </summary>
    private string Weight(string name, Tensor tensor, params long[] dims) => Weight(name, () => Floats(tensor), dims);

    private string Weight(string name, Func<float[]> values, params long[] dims)
    {
        if (!weights.TryGetValue(name, out var initializer))
            weights.Add(name, initializer = graph.Initializer(name, values(), dims));
        return initializer;
    }

    private float[] Floats(Tensor tensor)
    {
        if (tensor.dtype != ScalarType.Float32)
            throw new ModelExportException($"Cannot export {modelName} to ONNX: a weight is {tensor.dtype}; the exporter writes float32 networks.");
        return tensor.detach().cpu().contiguous().data<float>().ToArray();
    }

    private static void Need4D(nn.Module module, OnnxValue x, string path, string modelName)
    {
        if (x.Shape.Length != 3)
            throw new ModelExportException($"Cannot export {modelName} to ONNX: '{path}' ({module.GetType().Name}) gets {x}, not an image tensor.");
    }

    private OnnxValue EmitConv(Conv2d conv, OnnxValue x, string path)
    {
        Need4D(conv, x, path, modelName);
        if (conv.padding_mode != PaddingModes.Zeros) throw Unsupported(conv, path, $"padding mode {conv.padding_mode} (only zeros)");
        var kernel = conv.kernel_size;
        var stride = conv.stride;
        var dilation = conv.dilation;
        long[] padding;
        if (conv.padding is { } explicitPadding) padding = explicitPadding;
        else if (conv.padding_type == Padding.Valid) padding = [0, 0];
        else throw Unsupported(conv, path, "padding 'same' (give explicit padding)");
        if (kernel.Length != 2 || stride.Length != 2 || dilation.Length != 2 || padding.Length != 2)
            throw Unsupported(conv, path, "not a 2-D convolution");
        if (x.Shape[0] != conv.in_channels)
            throw new ModelExportException($"Cannot export {modelName} to ONNX: '{path}' expects {conv.in_channels} channels and gets {x}.");

        var weight = conv.weight;
        var inputs = new List<string> { x.Name, Weight(path + ".weight", weight, weight.shape) };
        if (conv.bias is { } bias) inputs.Add(Weight(path + ".bias", bias, bias.shape));
        var output = graph.Node("Conv", inputs, path,
            OnnxGraphBuilder.Ints("kernel_shape", kernel),
            OnnxGraphBuilder.Ints("strides", stride),
            OnnxGraphBuilder.Ints("pads", [padding[0], padding[1], padding[0], padding[1]]),
            OnnxGraphBuilder.Ints("dilations", dilation),
            OnnxGraphBuilder.Int("group", conv.groups));
        long h = PooledSize(x.Shape[1], kernel[0], stride[0], padding[0], dilation[0], ceil: false);
        long w = PooledSize(x.Shape[2], kernel[1], stride[1], padding[1], dilation[1], ceil: false);
        graph.MultiplyAccumulates += conv.out_channels * h * w * (conv.in_channels / conv.groups) * kernel[0] * kernel[1];
        return new OnnxValue(output, [conv.out_channels, h, w]);
    }

    /// <summary>PyTorch's output size of a convolution or pooling window (ceil mode: the last window must start inside the input or its left padding).</summary>
    private static long PooledSize(long size, long kernel, long stride, long pad, long dilation, bool ceil)
    {
        long span = size + 2 * pad - dilation * (kernel - 1) - 1;
        long output = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
        if (ceil && (output - 1) * stride >= size + pad) output--;
        return output;
    }

    private OnnxValue EmitBatchNorm(BatchNorm2d bn, OnnxValue x, string path)
    {
        Need4D(bn, x, path, modelName);
        if (bn.running_mean is not { } mean || bn.running_var is not { } variance)
            throw Unsupported(bn, path, "it keeps no running statistics, so its evaluation output depends on the batch");
        long channels = mean.shape[0];
        if (channels != x.Shape[0])
            throw new ModelExportException($"Cannot export {modelName} to ONNX: '{path}' normalises {channels} channels and gets {x}.");
        var output = graph.Node("BatchNormalization",
            [
                x.Name,
                Weight(path + ".weight", () => bn.weight is { } w ? Floats(w) : Enumerable.Repeat(1f, (int)channels).ToArray(), channels),
                Weight(path + ".bias", () => bn.bias is { } b ? Floats(b) : new float[channels], channels),
                Weight(path + ".running_mean", mean, channels),
                Weight(path + ".running_var", variance, channels),
            ],
            path,
            OnnxGraphBuilder.Float("epsilon", (float)bn.eps));
        return new OnnxValue(output, x.Shape);
    }

    private OnnxValue EmitMaxPool(MaxPool2d pool, OnnxValue x, string path)
    {
        Need4D(pool, x, path, modelName);
        var kernel = pool.kernel_size;
        var stride = pool.stride ?? kernel;
        var padding = pool.padding ?? [0, 0];
        var dilation = pool.dilation ?? [1, 1];
        if (kernel.Length != 2 || stride.Length != 2 || padding.Length != 2 || dilation.Length != 2)
            throw Unsupported(pool, path, "not a 2-D pooling");
        var attributes = new List<global::Onnx.AttributeProto>
        {
            OnnxGraphBuilder.Ints("kernel_shape", kernel),
            OnnxGraphBuilder.Ints("strides", stride),
            OnnxGraphBuilder.Ints("pads", [padding[0], padding[1], padding[0], padding[1]]),
        };
        if (dilation.Any(d => d != 1)) attributes.Add(OnnxGraphBuilder.Ints("dilations", dilation));
        if (pool.ceil_mode) attributes.Add(OnnxGraphBuilder.Int("ceil_mode", 1));
        var output = graph.Node("MaxPool", [x.Name], path, [.. attributes]);
        long h = PooledSize(x.Shape[1], kernel[0], stride[0], padding[0], dilation[0], pool.ceil_mode);
        long w = PooledSize(x.Shape[2], kernel[1], stride[1], padding[1], dilation[1], pool.ceil_mode);
        return new OnnxValue(output, [x.Shape[0], h, w]);
    }

    private OnnxValue EmitAdaptiveAveragePool(AdaptiveAvgPool2d pool, OnnxValue x, string path)
    {
        Need4D(pool, x, path, modelName);
        var size = pool.output_size;
        if (size.Length == 1) size = [size[0], size[0]];
        if (size.Length != 2 || size.Any(s => s < 1)) throw Unsupported(pool, path, $"output size [{string.Join(",", size)}]");
        long c = x.Shape[0], h = x.Shape[1], w = x.Shape[2], oh = size[0], ow = size[1];
        if (oh == 1 && ow == 1)
            return new OnnxValue(graph.Node("GlobalAveragePool", [x.Name], path), [c, 1, 1]);
        if (h % oh == 0 && w % ow == 0)
        {
            long kh = h / oh, kw = w / ow;
            var pooled = graph.Node("AveragePool", [x.Name], path,
                OnnxGraphBuilder.Ints("kernel_shape", [kh, kw]), OnnxGraphBuilder.Ints("strides", [kh, kw]));
            return new OnnxValue(pooled, [c, oh, ow]);
        }
        // Overlapping windows: rows i average [floor(i·H/oh), ceil((i+1)·H/oh)), likewise the columns; as matrices,
        // rows (oh x H) · X (…, H, W) · columnsᵀ (W x ow).
        var rows = Weight(path + ".rows", () => AveragingMatrix(h, oh, transposed: false), oh, h);
        var columns = Weight(path + ".columns", () => AveragingMatrix(w, ow, transposed: true), w, ow);
        var left = graph.Node("MatMul", [rows, x.Name], path + ".rows");
        var both = graph.Node("MatMul", [left, columns], path);
        return new OnnxValue(both, [c, oh, ow]);
    }

    /// <summary>The adaptive-pooling weights of <paramref name="output"/> windows over <paramref name="input"/> positions, as [output, input] or transposed.</summary>
    private static float[] AveragingMatrix(long input, long output, bool transposed)
    {
        var matrix = new float[input * output];
        for (long i = 0; i < output; i++)
        {
            long start = i * input / output;
            long end = ((i + 1) * input + output - 1) / output;
            float weight = 1f / (end - start);
            for (long j = start; j < end; j++)
                matrix[transposed ? j * output + i : i * input + j] = weight;
        }
        return matrix;
    }

    /// <summary>
    /// Group normalisation at opset 17: the channels reshaped to [batch, groups, C/groups·H·W], InstanceNormalization over the last
    /// axis with scale 1 and bias 0 (each group's mean and biased variance, as PyTorch's group_norm), reshaped back, then the
    /// per-channel affine weight (Mul) and bias (Add).
    /// </summary>
    private OnnxValue EmitGroupNorm(GroupNorm norm, OnnxValue x, string path)
    {
        Need4D(norm, x, path, modelName);
        long channels = x.Shape[0], groups = norm.num_groups;
        if (groups < 1 || channels % groups != 0)
            throw Unsupported(norm, path, $"{groups} groups do not divide the {channels} channels of {x}");
        var grouped = graph.Node("Reshape", [x.Name, graph.Int64Initializer(path + ".groups_shape", [0, groups, -1], 3)], path + ".grouped");
        var normalised = graph.Node("InstanceNormalization",
            [
                grouped,
                Weight(path + ".group_scale", () => Enumerable.Repeat(1f, (int)groups).ToArray(), groups),
                Weight(path + ".group_bias", () => new float[groups], groups),
            ],
            path + ".normalised",
            OnnxGraphBuilder.Float("epsilon", (float)norm.eps));
        var output = graph.Node("Reshape", [normalised, graph.Int64Initializer(path + ".shape", [0, .. x.Shape], 4)], norm.affine ? path + ".ungrouped" : path);
        if (norm.affine)
        {
            if (norm.weight is { } weight)
                output = graph.Node("Mul", [output, Weight(path + ".weight", weight, channels, 1, 1)], norm.bias is null ? path : path + ".scaled");
            if (norm.bias is { } bias)
                output = graph.Node("Add", [output, Weight(path + ".bias", bias, channels, 1, 1)], path);
        }
        return new OnnxValue(output, x.Shape);
    }

    /// <summary>
    /// <see cref="Detector.forward"/>: backbone, 1×1 laterals, the coarse level upsampled ×2 (nearest) and added to the fine one,
    /// a smoothing convolution per level, then per level the shared head and its rows; the levels' rows concatenated, [L, C + 4B].
    /// </summary>
    private OnnxValue EmitDetector(nn.Module detector, OnnxValue x, string path)
    {
        Need4D(detector, x, path, modelName);
        var children = ChildrenByName(detector);
        var unexpected = children.Keys.Except(DetectorChildren, StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw Unsupported(detector, path, $"it has children this exporter does not know ({string.Join(", ", unexpected)})");
        OnnxValue Apply(string name, OnnxValue value) => Emit(Child(detector, path, name), value, Join(path, name));

        var c4 = Apply("stem", x);
        var c8 = Apply("stage8", c4);
        var c16 = Apply("stage16", c8);
        var p16 = Apply("lateral16", c16);
        var up = UpsampleNearest2x(p16, Join(path, "upsample"));
        var p8 = Add(Apply("lateral8", c8), up, Join(path, "p8"));
        var level8 = DetectorLevel(detector, Apply("smooth8", p8), path, "level8");
        var level16 = DetectorLevel(detector, Apply("smooth16", p16), path, "level16");
        if (level8.Shape[1] != level16.Shape[1])
            throw new ModelExportException($"Cannot export {modelName} to ONNX: its levels give rows of {level8.Shape[1]} and {level16.Shape[1]} values.");
        var map = graph.Node("Concat", [level8.Name, level16.Name], Join(path, "levels"), OnnxGraphBuilder.Int("axis", 1));
        return new OnnxValue(map, [level8.Shape[0] + level16.Shape[0], level8.Shape[1]]);
    }

    /// <summary>One level's rows, as <c>Detector.Level</c>: head, Concat(class logits, side logits) on the channels, [h·w, C + 4B] row-major.</summary>
    private OnnxValue DetectorLevel(nn.Module detector, OnnxValue features, string path, string level)
    {
        var head = Emit(Child(detector, path, "head"), features, Join(path, "head"));
        var classes = Emit(Child(detector, path, "classes"), head, Join(path, "classes"));
        var sides = Emit(Child(detector, path, "sides"), head, Join(path, "sides"));
        long width = classes.Shape[0] + sides.Shape[0], h = head.Shape[1], w = head.Shape[2];
        var prefix = Join(path, level);
        var rows = graph.Node("Concat", [classes.Name, sides.Name], prefix + ".logits", OnnxGraphBuilder.Int("axis", 1));
        var flat = graph.Node("Reshape", [rows, graph.Int64Initializer(prefix + ".flat_shape", [0, width, h * w], 3)], prefix + ".flat");
        var transposed = graph.Node("Transpose", [flat], prefix + ".rows", OnnxGraphBuilder.Ints("perm", [0, 2, 1]));
        return new OnnxValue(transposed, [h * w, width]);
    }

    /// <summary>
    /// PyTorch's <c>interpolate(scale_factor: 2, mode: nearest)</c>: output pixel (y, x) is input pixel (⌊y/2⌋, ⌊x/2⌋), which is
    /// ONNX Resize with scales [1, 1, 2, 2], mode nearest, coordinate_transformation_mode asymmetric and nearest_mode floor.
    /// </summary>
    private OnnxValue UpsampleNearest2x(OnnxValue x, string path)
    {
        if (x.Shape.Length != 3)
            throw new ModelExportException($"Cannot export {modelName} to ONNX: '{path}' upsamples {x}, not an image tensor.");
        upsampleScales ??= graph.Initializer("upsample_scales", [1f, 1f, 2f, 2f], 4);
        var output = graph.Node("Resize", [x.Name, "", upsampleScales], path,
            OnnxGraphBuilder.String("mode", "nearest"),
            OnnxGraphBuilder.String("coordinate_transformation_mode", "asymmetric"),
            OnnxGraphBuilder.String("nearest_mode", "floor"));
        return new OnnxValue(output, [x.Shape[0], 2 * x.Shape[1], 2 * x.Shape[2]]);
    }

    private OnnxValue EmitFlatten(Flatten flatten, OnnxValue x, string path)
    {
        long rank = x.Shape.Length + 1;
        long start = flatten.start_dim < 0 ? flatten.start_dim + rank : flatten.start_dim;
        long end = flatten.end_dim < 0 ? flatten.end_dim + rank : flatten.end_dim;
        if (start != 1 || end != rank - 1)
            throw Unsupported(flatten, path, $"flattening dimensions {flatten.start_dim}..{flatten.end_dim} (only 1..-1, everything but the batch)");
        var output = graph.Node("Flatten", [x.Name], path, OnnxGraphBuilder.Int("axis", 1));
        return new OnnxValue(output, [x.Shape.Aggregate(1L, (a, b) => a * b)]);
    }

    private OnnxValue EmitGemm(Linear linear, OnnxValue x, string path)
    {
        var weight = linear.weight;
        if (x.Shape.Length != 1 || x.Shape[0] != weight.shape[1])
            throw new ModelExportException($"Cannot export {modelName} to ONNX: '{path}' (Linear {weight.shape[1]} → {weight.shape[0]}) gets {x}.");
        var inputs = new List<string> { x.Name, Weight(path + ".weight", weight, weight.shape) };
        if (linear.bias is { } bias) inputs.Add(Weight(path + ".bias", bias, bias.shape));
        var output = graph.Node("Gemm", inputs, path, OnnxGraphBuilder.Int("transB", 1));
        graph.MultiplyAccumulates += weight.shape[0] * weight.shape[1];
        return new OnnxValue(output, [weight.shape[0]]);
    }
}
