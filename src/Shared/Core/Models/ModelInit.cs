using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Models;

/// <summary>A network that knows its own initialisation scheme and draws it from a given generator.</summary>
public interface ISeededInitialization
{
    void Initialize(Generator generator);
}

/// <summary>
/// Weight initialisation from an explicit generator. TorchSharp's module constructors draw from the
/// process-wide generator, which other threads may use at the same time; re-initialising from the model's
/// own generator makes its weights a function of its seed alone (DESIGN.md §8).
/// </summary>
public static class ModelInit
{
    /// <summary>The model's own scheme when it has one, else <see cref="PyTorchDefault"/>.</summary>
    public static void Apply(nn.Module root, Generator generator)
    {
        if (root is ISeededInitialization seeded) seeded.Initialize(generator);
        else PyTorchDefault(root, generator);
    }

    /// <summary>
    /// PyTorch's defaults: convolution and linear weights and biases U(−1/√fan_in, 1/√fan_in)
    /// (Kaiming-uniform with a = √5); batch norm weight 1, bias 0.
    /// </summary>
    public static void PyTorchDefault(nn.Module root, Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var module in root.modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    Uniform(conv.weight!, conv.bias, FanIn(conv.weight!), generator);
                    break;
                case Linear linear:
                    Uniform(linear.weight!, linear.bias, FanIn(linear.weight!), generator);
                    break;
                case BatchNorm2d bn:
                    if (bn.weight is { } w) nn.init.ones_(w);
                    if (bn.bias is { } b) nn.init.zeros_(b);
                    break;
            }
        }
    }

    /// <summary>
    /// TorchVision's scheme: convolutions Kaiming-normal (fan-out, ReLU gain), biases 0; batch norm weight 1,
    /// bias 0; linear N(0, <paramref name="linearStd"/>) with bias 0 when given, else PyTorch's default.
    /// </summary>
    public static void TorchVisionStyle(nn.Module root, double? linearStd, Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var module in root.modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    Normal(conv.weight!, Math.Sqrt(2.0 / FanOut(conv.weight!)), generator);
                    if (conv.bias is { } convBias) nn.init.zeros_(convBias);
                    break;
                case BatchNorm2d bn:
                    if (bn.weight is { } w) nn.init.ones_(w);
                    if (bn.bias is { } b) nn.init.zeros_(b);
                    break;
                case Linear linear when linearStd is { } std:
                    Normal(linear.weight!, std, generator);
                    if (linear.bias is { } linearBias) nn.init.zeros_(linearBias);
                    break;
                case Linear linear:
                    Uniform(linear.weight!, linear.bias, FanIn(linear.weight!), generator);
                    break;
            }
        }
    }

    private static void Uniform(Tensor weight, Tensor? bias, long fanIn, Generator generator)
    {
        var bound = 1.0 / Math.Sqrt(fanIn);
        Uniform(weight, bound, generator);
        if (bias is not null) Uniform(bias, bound, generator);
    }

    // TorchSharp 0.107's nn.init.uniform_/normal_ ignore their generator argument (checked: two generators in the
    // same state give different values), while torch.rand/randn honour it; so draw with those and copy in place.
    private static void Uniform(Tensor target, double bound, Generator generator)
    {
        using var u = rand(target.shape, dtype: target.dtype, generator: generator);
        using var scaled = u * (2 * bound) - bound;
        target.copy_(scaled);
    }

    private static void Normal(Tensor target, double std, Generator generator)
    {
        using var n = randn(target.shape, dtype: target.dtype, generator: generator);
        using var scaled = n * std;
        target.copy_(scaled);
    }

    /// <summary>Inputs per output unit: weight.shape[1] × kernel area.</summary>
    private static long FanIn(Tensor weight) => weight.shape[1] * Receptive(weight);

    private static long FanOut(Tensor weight) => weight.shape[0] * Receptive(weight);

    private static long Receptive(Tensor weight) => weight.shape.Skip(2).Aggregate(1L, (a, b) => a * b);
}
