using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace P2PDistill.Shared.Models;

/// <summary>
/// TorchVision-style ResNet with basic blocks: stem, four stages of 64/128/256/512 channels (stages 2–4 start
/// with stride 2 and a 1x1-conv + BN shortcut), adaptive average pooling to 1x1, linear classifier. Adaptive
/// pooling makes it accept any input size.
/// <para>Stems: the ImageNet stem is conv7x7/2 (64) - BN - ReLU - maxpool3x3/2, as in TorchVision, and gives
/// exactly TorchVision's parameter count (11,689,512 for ResNet-18 with 3 channels and 1000 classes). The
/// small-input (CIFAR-style) stem is conv3x3/1 (64) - BN - ReLU with no max-pool, so a 32x32 image still reaches
/// the last stage as 4x4 instead of 1x1; it has fewer stem weights (9·C·64 instead of 49·C·64).
/// <see cref="UseSmallInputStem"/> picks it for images whose shorter side is at most 64 pixels.</para>
/// <para>Field names follow TorchVision (conv1, bn1, layer1…layer4, fc; downsample.0/.1), so state-dict keys
/// match TorchVision's; the small stem keeps the names with a 3x3 conv1 and an identity maxpool.</para>
/// Initialisation as TorchVision: convolutions Kaiming-normal (fan-out, ReLU), batch norm weight 1 and bias 0,
/// linear layer TorchSharp's default.
/// </summary>
public sealed class ResNet : Module<Tensor, Tensor>, ISeededInitialization
{
    /// <summary>Inputs whose shorter side is at most this many pixels get the small-input stem.</summary>
    public const int SmallInputMaxSide = 64;

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Module<Tensor, Tensor> relu;
    private readonly Module<Tensor, Tensor> maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly Module<Tensor, Tensor> avgpool;
    private readonly Module<Tensor, Tensor> flatten;
    private readonly Linear fc;

    /// <summary>
    /// ResNet-18: two basic blocks per stage. <paramref name="smallInputStem"/> chooses the CIFAR-style stem
    /// (see the class remarks); <see cref="UseSmallInputStem"/> gives the usual choice for an input size.
    /// </summary>
    public static ResNet ResNet18(int inChannels, int numClasses, bool smallInputStem = false) =>
        new("resnet18", [2, 2, 2, 2], inChannels, numClasses, smallInputStem);

    /// <summary>True when an image of <paramref name="height"/> x <paramref name="width"/> is small enough for the small-input stem.</summary>
    public static bool UseSmallInputStem(int height, int width) => Math.Min(height, width) <= SmallInputMaxSide;

    private ResNet(string name, int[] blocksPerStage, int inChannels, int numClasses, bool smallInputStem) : base(name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 1);

        conv1 = smallInputStem
            ? Conv2d(inChannels, 64, 3, stride: 1, padding: 1, bias: false)
            : Conv2d(inChannels, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = BatchNorm2d(64);
        relu = ReLU();
        maxpool = smallInputStem ? Identity() : MaxPool2d(3, stride: 2, padding: 1);

        var channels = 64;
        layer1 = MakeStage(ref channels, 64, blocksPerStage[0], stride: 1);
        layer2 = MakeStage(ref channels, 128, blocksPerStage[1], stride: 2);
        layer3 = MakeStage(ref channels, 256, blocksPerStage[2], stride: 2);
        layer4 = MakeStage(ref channels, 512, blocksPerStage[3], stride: 2);
        avgpool = AdaptiveAvgPool2d(1);
        flatten = Flatten();
        fc = Linear(512, numClasses);
        RegisterComponents();
        ModelInit.TorchVisionStyle(this, linearStd: null, Generator.Default);
    }

    /// <inheritdoc />
    public void Initialize(Generator generator) => ModelInit.TorchVisionStyle(this, linearStd: null, generator);

    private static Sequential MakeStage(ref int inChannels, int outChannels, int blocks, int stride)
    {
        var list = new Module<Tensor, Tensor>[blocks];
        for (var b = 0; b < blocks; b++)
        {
            list[b] = new BasicBlock(inChannels, outChannels, b == 0 ? stride : 1);
            inChannels = outChannels;
        }
        return Sequential(list);
    }

    public override Tensor forward(Tensor input)
    {
        using var c = conv1.forward(input);
        using var b = bn1.forward(c);
        using var r = relu.forward(b);
        using var p = maxpool.forward(r);
        using var l1 = layer1.forward(p);
        using var l2 = layer2.forward(l1);
        using var l3 = layer3.forward(l2);
        using var l4 = layer4.forward(l3);
        using var pooled = avgpool.forward(l4);
        using var flat = flatten.forward(pooled);
        return fc.forward(flat);
    }
}

/// <summary>
/// ResNet basic block: conv3x3(stride) - BN - ReLU - conv3x3 - BN, plus the input (through conv1x1(stride) - BN
/// when the shape changes), then ReLU.
/// </summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Module<Tensor, Tensor> relu;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    public BasicBlock(int inChannels, int outChannels, int stride) : base("basic-block")
    {
        conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(outChannels);
        relu = ReLU();
        conv2 = Conv2d(outChannels, outChannels, 3, stride: 1, padding: 1, bias: false);
        bn2 = BatchNorm2d(outChannels);
        downsample = stride != 1 || inChannels != outChannels
            ? Sequential(Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), BatchNorm2d(outChannels))
            : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var c1 = conv1.forward(input);
        using var b1 = bn1.forward(c1);
        using var r1 = relu.forward(b1);
        using var c2 = conv2.forward(r1);
        using var b2 = bn2.forward(c2);
        if (downsample is null)
        {
            using var sum = b2 + input;
            return relu.forward(sum);
        }
        using var shortcut = downsample.forward(input);
        using var sumDown = b2 + shortcut;
        return relu.forward(sumDown);
    }
}
