using P2PDistill.Shared.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Models;

[Trait("Category", "Unit")]
public sealed class RgbModelSpecs
{
    [Theory]
    [InlineData("resnet18", 3, 32)]
    [InlineData("resnet18", 1, 64)]
    [InlineData("resnet18", 3, 72)]
    [InlineData("mobilenet-v2", 3, 32)]
    [InlineData("mobilenet-v2", 1, 64)]
    [InlineData("mobilenet-v2", 3, 72)]
    public void Should_produce_one_row_of_logits_per_image(string name, int channels, int size)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        using var model = ModelRegistry.Create(name, new ModelSpec(channels, size, size, 5));
        model.eval();

        using var noGrad = torch.no_grad();
        var logits = model.forward(torch.randn(2, channels, size, size));

        Assert.Equal([2L, 5L], logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
    }

    [Fact]
    public void Should_match_torchvision_parameter_count_for_resnet18()
    {
        using var scope = torch.NewDisposeScope();
        using var model = ResNet.ResNet18(3, 1000);

        Assert.Equal(11_689_512, ModelRegistry.ParameterCount(model));
    }

    [Fact]
    public void Should_shrink_only_the_stem_with_the_small_input_resnet18()
    {
        using var scope = torch.NewDisposeScope();
        using var model = ResNet.ResNet18(3, 1000, smallInputStem: true);

        Assert.Equal(11_689_512 - 3 * 64 * (49 - 9), ModelRegistry.ParameterCount(model));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Should_match_torchvision_parameter_count_for_mobilenet_v2(bool smallInputStem)
    {
        using var scope = torch.NewDisposeScope();
        using var model = MobileNetV2.Create(3, 1000, smallInputStem);

        Assert.Equal(3_504_872, ModelRegistry.ParameterCount(model));
    }

    [Fact]
    public void Should_use_torchvision_state_dict_keys()
    {
        using var scope = torch.NewDisposeScope();
        using var resnet = ResNet.ResNet18(3, 10);
        using var mobilenet = MobileNetV2.Create(3, 10);

        var resnetKeys = resnet.state_dict().Keys;
        Assert.Contains("conv1.weight", resnetKeys);
        Assert.Contains("layer2.0.downsample.0.weight", resnetKeys);
        Assert.Contains("layer4.1.bn2.running_mean", resnetKeys);
        Assert.Contains("fc.bias", resnetKeys);

        var mobileKeys = mobilenet.state_dict().Keys;
        Assert.Contains("features.0.0.weight", mobileKeys);
        Assert.Contains("features.1.conv.0.0.weight", mobileKeys);
        Assert.Contains("features.2.conv.3.weight", mobileKeys);
        Assert.Contains("features.18.1.bias", mobileKeys);
        Assert.Contains("classifier.1.weight", mobileKeys);
    }

    [Theory]
    [InlineData("resnet18")]
    [InlineData("mobilenet-v2")]
    public void Should_propagate_gradients_to_every_parameter(string name)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        using var model = ModelRegistry.Create(name, new ModelSpec(3, 16, 16, 4));
        model.train();

        var logits = model.forward(torch.randn(2, 3, 16, 16));
        var loss = nn.functional.cross_entropy(logits, torch.tensor(new long[] { 0, 3 }));
        loss.backward();

        foreach (var (paramName, p) in model.named_parameters())
        {
            Assert.True(p.grad is not null, $"{paramName} has no gradient");
            Assert.True(p.grad!.abs().sum().item<float>() > 0, $"{paramName} has an all-zero gradient");
        }
    }

    [Theory]
    [InlineData("resnet18")]
    [InlineData("mobilenet-v2")]
    public void Should_reject_inputs_smaller_than_16_pixels(string name)
    {
        Assert.Null(ModelRegistry.Validate(name, new ModelSpec(3, 16, 16, 10)));
        Assert.Contains("at least 16x16", ModelRegistry.Validate(name, new ModelSpec(3, 15, 32, 10)));
    }

    [Fact]
    public void Should_choose_the_small_input_stem_up_to_64_pixels()
    {
        Assert.True(ResNet.UseSmallInputStem(64, 64));
        Assert.True(ResNet.UseSmallInputStem(32, 224));
        Assert.False(ResNet.UseSmallInputStem(65, 65));
        Assert.True(MobileNetV2.UseSmallInputStem(28, 28));
        Assert.False(MobileNetV2.UseSmallInputStem(224, 224));
    }
}
