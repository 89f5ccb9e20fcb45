using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Models;

/// <summary>What a network must accept and produce: channel-first input shape and class count.</summary>
public sealed record ModelSpec(int Channels, int Height, int Width, int NumClasses)
{
    public override string ToString() => $"{Channels}x{Height}x{Width} -> {NumClasses} classes";
}

/// <summary>One registered architecture.</summary>
public sealed record ModelInfo(string Name, string Description, Func<ModelSpec, string?> Check, Func<ModelSpec, nn.Module<Tensor, Tensor>> Build);

/// <summary>Networks by name. Unknown names get an error that lists the known ones.</summary>
public static class ModelRegistry
{
    private static readonly Dictionary<string, ModelInfo> Models = new(StringComparer.OrdinalIgnoreCase);

    static ModelRegistry()
    {
        Register(new ModelInfo("cnn-teacher", "4-conv CNN with batch norm, ~0.9M parameters, 28x28 grayscale",
            s => s.Height == 28 && s.Width == 28 ? null : "needs 28x28 inputs",
            s => new CnnTeacher(s.Channels, s.NumClasses)));
        Register(new ModelInfo("cnn-student", "2-conv CNN, ~0.1M parameters, 28x28 grayscale",
            s => s.Height == 28 && s.Width == 28 ? null : "needs 28x28 inputs",
            s => new CnnStudent(s.Channels, s.NumClasses)));
        Register(new ModelInfo("tiny", "one conv + linear, for fast tests; any input size",
            _ => null,
            s => new TinyNet(s.Channels, s.NumClasses)));
        Register(new ModelInfo("mlp", "two-layer perceptron on flattened pixels; any input size",
            _ => null,
            s => new Mlp(s.Channels * s.Height * s.Width, s.NumClasses)));
        Register(new ModelInfo("resnet18", "ResNet-18 (basic blocks, ~11.2M parameters); RGB or grayscale images of any size >= 16 px, CIFAR-style stem up to 64 px",
            s => s.Height >= 16 && s.Width >= 16 ? null : "needs inputs of at least 16x16",
            s => ResNet.ResNet18(s.Channels, s.NumClasses, ResNet.UseSmallInputStem(s.Height, s.Width))));
        Register(new ModelInfo("mobilenet-v2", "MobileNetV2 width 1.0 (~2.2M parameters); RGB or grayscale images of any size >= 16 px, stride-1 stem up to 64 px",
            s => s.Height >= 16 && s.Width >= 16 ? null : "needs inputs of at least 16x16",
            s => MobileNetV2.Create(s.Channels, s.NumClasses, MobileNetV2.UseSmallInputStem(s.Height, s.Width))));
    }

    public static void Register(ModelInfo info) => Models[info.Name] = info;

    public static IReadOnlyCollection<string> Names => Models.Keys.Order().ToArray();

    public static bool IsKnown(string name) => Models.ContainsKey(name);

    public static ModelInfo Get(string name) =>
        Models.TryGetValue(name, out var info)
            ? info
            : throw new ArgumentException($"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>Returns null when <paramref name="name"/> accepts <paramref name="spec"/>, else the reason it does not.</summary>
    public static string? Validate(string name, ModelSpec spec)
    {
        if (!Models.TryGetValue(name, out var info))
            return $"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.";
        if (spec.NumClasses < 2) return $"model '{name}': needs at least 2 classes, got {spec.NumClasses}";
        var why = info.Check(spec);
        return why is null ? null : $"model '{name}' {why}, got {spec}";
    }

    /// <summary>Builds a fresh network. Initialisation draws from TorchSharp's global generator: seed it (torch.manual_seed) first.</summary>
    public static nn.Module<Tensor, Tensor> Create(string name, ModelSpec spec)
    {
        var info = Get(name);
        var why = Validate(name, spec);
        if (why is not null) throw new ArgumentException(why, nameof(spec));
        return info.Build(spec);
    }

    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());
}
