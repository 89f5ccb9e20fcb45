using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace P2PDistill.Shared.Models;

/// <summary>
/// A compute-free classifier for benchmarks of the coordinator: its output ignores the images and is one learnable bias of
/// shape [classes], expanded to [B, classes]. The loss, backward and optimizer step still run (on <c>classes</c> numbers),
/// so a model actor goes through the whole step protocol at almost no cost, and what a step takes is the coordination.
/// </summary>
public sealed class ConstantModel : Module<Tensor, Tensor>, ISeededInitialization
{
    private readonly Parameter bias;

    public ConstantModel(int numClasses) : base("constant")
    {
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "needs at least one class");
        bias = Parameter(zeros(numClasses));
        register_parameter("bias", bias);
    }

    /// <summary>The learnable logits, [classes].</summary>
    public Tensor Bias => bias;

    /// <summary>Small logits, N(0, 0.01), from the model's own generator: models of different seeds differ, none is confident.</summary>
    public void Initialize(Generator generator)
    {
        using var noGrad = no_grad();
        using var drawn = randn(bias.shape, generator: generator);
        bias.copy_(drawn.mul_(0.01));
    }

    public override Tensor forward(Tensor input) => bias.unsqueeze(0).expand(input.shape[0], bias.shape[0]).contiguous();
}
