using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Tests;

[Trait("Category", "Unit")]
public sealed class TorchSharpLoadSpecs
{
    [Fact]
    public void Should_create_a_tensor_and_run_backward()
    {
        var x = torch.tensor(new float[] { 1f, 2f, 3f }, requires_grad: true);
        var y = (x * x).sum();
        y.backward();
        Assert.Equal(new float[] { 2f, 4f, 6f }, x.grad!.data<float>().ToArray());
    }
}
