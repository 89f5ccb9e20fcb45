using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Models;

/// <summary>
/// Dropout that draws its mask from an explicit generator instead of TorchSharp's process-wide one,
/// so a model's random stream does not depend on which other models share its process (DESIGN.md §8).
/// The trainer that owns the model sets <see cref="Generator"/>; without one it falls back to the global generator.
/// </summary>
public sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    private readonly double p;

    public SeededDropout(double p) : base("seeded-dropout")
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), "dropout probability must be in [0, 1)");
        this.p = p;
    }

    public Generator? Generator { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (!training || p == 0) return input.alias();
        using var noise = rand(input.shape, dtype: input.dtype, device: input.device, generator: Generator);
        using var keep = noise.ge(p);
        return input * keep / (1.0 - p);
    }
}
