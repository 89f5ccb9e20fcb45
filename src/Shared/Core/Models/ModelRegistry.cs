using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Settings;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Models;

/// <summary>What a network must accept and produce: channel-first input shape and class count.</summary>
public sealed record ModelSpec(int Channels, int Height, int Width, int NumClasses)
{
    public override string ToString() => $"{Channels}x{Height}x{Width} -> {NumClasses} classes";
}

/// <summary>One registered architecture, and the task it is built for.</summary>
public sealed record ModelInfo(string Name, string Description, Func<ModelSpec, string?> Check, Func<ModelSpec, nn.Module<Tensor, Tensor>> Build,
    TaskKind Task = TaskKind.Classification)
{
    /// <summary>A tool for benchmarks (it learns nothing from the images): never suggested as a model that fits a data set.</summary>
    public bool ForBenchmarks { get; init; }
}

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
        Register(new ModelInfo("constant", "compute-free: one learnable bias per class, the same logits for every image, for benchmarks of the coordinator; any input size",
            _ => null,
            s => new ConstantModel(s.NumClasses)) { ForBenchmarks = true });
        Register(new ModelInfo("resnet18", "ResNet-18 (basic blocks, ~11.2M parameters); RGB or grayscale images of any size >= 16 px, CIFAR-style stem up to 64 px",
            s => s.Height >= 16 && s.Width >= 16 ? null : "needs inputs of at least 16x16",
            s => ResNet.ResNet18(s.Channels, s.NumClasses, ResNet.UseSmallInputStem(s.Height, s.Width))));
        Register(new ModelInfo("mobilenet-v2", "MobileNetV2 width 1.0 (~2.2M parameters); RGB or grayscale images of any size >= 16 px, stride-1 stem up to 64 px",
            s => s.Height >= 16 && s.Width >= 16 ? null : "needs inputs of at least 16x16",
            s => MobileNetV2.Create(s.Channels, s.NumClasses, MobileNetV2.UseSmallInputStem(s.Height, s.Width))));
        Register(new ModelInfo("det-teacher", "one-stage anchor-free detector (GFL head, strides 8 and 16), backbone 32-64-128-256, head 96 wide, ~0.80M parameters (RGB, 2 classes); sides a multiple of 16",
            DetectorInput,
            s => new Detector("det-teacher", s.Channels, s.NumClasses, DetectorWidths.Teacher), TaskKind.Detection));
        Register(new ModelInfo("det-student", "one-stage anchor-free detector (GFL head, strides 8 and 16), backbone 8-16-32-64, head 32 wide, ~66K parameters (RGB, 2 classes; 12x smaller); sides a multiple of 16",
            DetectorInput,
            s => new Detector("det-student", s.Channels, s.NumClasses, DetectorWidths.Student), TaskKind.Detection));
    }

    private static string? DetectorInput(ModelSpec s) =>
        s.Height >= 32 && s.Width >= 32 && s.Height % 16 == 0 && s.Width % 16 == 0 ? null : "needs inputs whose sides are multiples of 16, at least 32";

    public static void Register(ModelInfo info) => Models[info.Name] = info;

    public static IReadOnlyCollection<string> Names => Models.Keys.Order().ToArray();

    /// <summary>The models built for <paramref name="task"/>, by name.</summary>
    public static IReadOnlyCollection<string> NamesFor(TaskKind task) => Models.Values.Where(m => m.Task == task).Select(m => m.Name).Order().ToArray();

    public static bool IsKnown(string name) => Models.ContainsKey(name);

    public static ModelInfo Get(string name) =>
        Models.TryGetValue(name, out var info)
            ? info
            : throw new ArgumentException($"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>Returns null when <paramref name="name"/> accepts <paramref name="spec"/> for <paramref name="task"/>, else the reason it does not.</summary>
    public static string? Validate(string name, ModelSpec spec, TaskKind task = TaskKind.Classification)
    {
        if (!Models.TryGetValue(name, out var info))
            return $"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.";
        if (info.Task != task)
            return $"model '{name}' is a {info.Task.SettingName()} model; --task {task.SettingName()} takes {string.Join(", ", NamesFor(task))}";
        int fewest = task == TaskKind.Detection ? 1 : 2;
        if (spec.NumClasses < fewest) return $"model '{name}': needs at least {fewest} classes, got {spec.NumClasses}";
        var why = info.Check(spec);
        return why is null ? null : $"model '{name}' {why}, got {spec}";
    }

    /// <summary>Builds a fresh network. Initialisation draws from TorchSharp's global generator: seed it (torch.manual_seed) first.</summary>
    public static nn.Module<Tensor, Tensor> Create(string name, ModelSpec spec)
    {
        var info = Get(name);
        var why = Validate(name, spec, info.Task);
        if (why is not null) throw new ArgumentException(why, nameof(spec));
        return info.Build(spec);
    }

    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());
}
