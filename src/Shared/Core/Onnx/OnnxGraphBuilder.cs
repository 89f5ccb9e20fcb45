using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace P2PDistill.Shared.Onnx;

/// <summary>
/// Collects the nodes and initializers of one ONNX graph (OnnxSharp's protobuf classes, <see cref="GraphProto"/>): every value
/// gets a unique name under the current <see cref="Prefix"/> (the ensemble gives each student its own), weights become float32
/// initializers (and int64 ones for shapes) stored as little-endian raw data, as the ONNX format wants.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly HashSet<string> names = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string graphName)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian; this exporter writes it from a little-endian machine only.");
        Graph = new GraphProto { Name = graphName };
    }

    public GraphProto Graph { get; }

    /// <summary>
    /// Multiply-accumulates per image of the convolutions and fully connected layers emitted so far (what the compression report
    /// counts; normalisation, activations, pooling and additions are left out, as profilers of MACs do).
    /// </summary>
    public long MultiplyAccumulates { get; set; }

    /// <summary>Prepended to every name made from now on ("student-1/" for an ensemble member; empty for one model).</summary>
    public string Prefix { get; set; } = "";

    /// <summary>A name not used before in this graph: <see cref="Prefix"/> + <paramref name="name"/>, with _2, _3, ... when taken.</summary>
    public string Unique(string name)
    {
        var baseName = Prefix + name;
        var unique = baseName;
        for (int n = 2; !names.Add(unique); n++) unique = $"{baseName}_{n}";
        return unique;
    }

    /// <summary>Claims a name exactly as given (graph inputs and outputs); throws if it is taken.</summary>
    public string Exact(string name)
    {
        if (!names.Add(name)) throw new InvalidOperationException($"ONNX value name '{name}' is used twice.");
        return name;
    }

    /// <summary>A float32 initializer of shape <paramref name="dims"/>; returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims) =>
        Raw(name, values, TensorProto.Types.DataType.Float, dims);

    /// <summary>An int64 initializer of shape <paramref name="dims"/> (shapes, split sizes); returns its name.</summary>
    public string Int64Initializer(string name, ReadOnlySpan<long> values, params long[] dims) =>
        Raw(name, values, TensorProto.Types.DataType.Int64, dims);

    private string Raw<T>(string name, ReadOnlySpan<T> values, TensorProto.Types.DataType type, long[] dims) where T : unmanaged
    {
        long count = dims.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length)
            throw new ArgumentException($"Initializer '{name}' has {values.Length} values for shape [{string.Join(",", dims)}].", nameof(values));
        var tensor = new TensorProto
        {
            Name = Unique(name),
            DataType = (int)type,
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)),
        };
        tensor.Dims.AddRange(dims);
        Graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>One node of the default (ai.onnx) domain with one output named after <paramref name="output"/>; returns the output's name.</summary>
    public string Node(string opType, IEnumerable<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique(opType + ":" + output) };
        node.Input.AddRange(inputs);
        var outputName = Unique(output);
        node.Output.Add(outputName);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return outputName;
    }

    /// <summary>A node with several outputs (Split), named after <paramref name="outputs"/>; returns their names, in order.</summary>
    public IReadOnlyList<string> NodeOutputs(string opType, IEnumerable<string> inputs, IReadOnlyList<string> outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique(opType + ":" + string.Join(",", outputs)) };
        node.Input.AddRange(inputs);
        var names = outputs.Select(Unique).ToList();
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return names;
    }

    /// <summary>A node whose output takes exactly the name <paramref name="output"/> (a graph output).</summary>
    public string NodeExact(string opType, IEnumerable<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique(opType + ":" + output) };
        node.Input.AddRange(inputs);
        node.Output.Add(Exact(output));
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    /// <summary>A float32 tensor value description: <paramref name="dims"/> with null for the dynamic batch dimension "batch".</summary>
    public static ValueInfoProto FloatValue(string name, string docString, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is { } value ? new TensorShapeProto.Types.Dimension { DimValue = value } : new TensorShapeProto.Types.Dimension { DimParam = OnnxExporter.BatchDimension });
        return new ValueInfoProto
        {
            Name = name,
            DocString = docString,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };
}
