using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace P2PDistill.Shared.Models;

/// <summary>
/// TorchVision-style MobileNetV2, width 1.0: conv3x3/2 (32) - BN - ReLU6, seventeen inverted residual blocks
/// (expansion t, output channels c, repeats n, first stride s: 1/16/1/1, 6/24/2/2, 6/32/3/2, 6/64/4/2,
/// 6/96/3/1, 6/160/3/2, 6/320/1/1), conv1x1 (1280) - BN - ReLU6, adaptive average pooling to 1x1,
/// dropout 0.2, linear. 3,504,872 parameters with 3 channels and 1000 classes, as TorchVision.
/// <para>Small inputs (shorter side at most 64 px, <see cref="UseSmallInputStem"/>): the stem convolution and
/// the first 24-channel block use stride 1 instead of 2 (as in the usual CIFAR adaptation), so the total stride
/// is 8 instead of 32 and a 32x32 image ends as 4x4 rather than 1x1. Strides hold no weights, so the parameter
/// count is the same either way.</para>
/// <para>Field and child names follow TorchVision (features.N.conv.M…, classifier.1), so state-dict keys
/// match TorchVision's. Initialisation as TorchVision: convolutions Kaiming-normal (fan-out), batch norm
/// weight 1 and bias 0, linear weight N(0, 0.01) and bias 0.</para>
/// </summary>
public sealed class MobileNetV2 : Module<Tensor, Tensor>, ISeededInitialization
{
    /// <summary>Inputs whose shorter side is at most this many pixels get the stride-1 stem.</summary>
    public const int SmallInputMaxSide = 64;

    private static readonly (int Expansion, int Channels, int Repeats, int Stride)[] Settings =
    [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ];

    private readonly Sequential features;
    private readonly Module<Tensor, Tensor> avgpool;
    private readonly Module<Tensor, Tensor> flatten;
    private readonly Sequential classifier;

    /// <summary>Width-1.0 MobileNetV2; <paramref name="smallInputStem"/> as in the class remarks.</summary>
    public static MobileNetV2 Create(int inChannels, int numClasses, bool smallInputStem = false) =>
        new(inChannels, numClasses, smallInputStem);

    /// <summary>True when an image of <paramref name="height"/> x <paramref name="width"/> is small enough for the stride-1 stem.</summary>
    public static bool UseSmallInputStem(int height, int width) => Math.Min(height, width) <= SmallInputMaxSide;

    private MobileNetV2(int inChannels, int numClasses, bool smallInputStem) : base("mobilenet-v2")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 1);

        const int stemChannels = 32, lastChannels = 1280;
        var layers = new List<Module<Tensor, Tensor>> { ConvBnRelu6(inChannels, stemChannels, 3, smallInputStem ? 1 : 2, 1) };
        var channels = stemChannels;
        for (var stage = 0; stage < Settings.Length; stage++)
        {
            var (t, c, n, s) = Settings[stage];
            if (smallInputStem && stage == 1) s = 1;
            for (var i = 0; i < n; i++)
            {
                layers.Add(new InvertedResidual(channels, c, i == 0 ? s : 1, t));
                channels = c;
            }
        }
        layers.Add(ConvBnRelu6(channels, lastChannels, 1, 1, 1));

        features = Sequential(layers);
        avgpool = AdaptiveAvgPool2d(1);
        flatten = Flatten();
        classifier = Sequential(new SeededDropout(0.2), Linear(lastChannels, numClasses));
        RegisterComponents();
        ModelInit.TorchVisionStyle(this, linearStd: 0.01, Generator.Default);
    }

    /// <inheritdoc />
    public void Initialize(Generator generator) => ModelInit.TorchVisionStyle(this, linearStd: 0.01, generator);

    /// <summary>Conv (no bias) - BN - ReLU6, padding keeping the size at stride 1; TorchVision's Conv2dNormActivation.</summary>
    internal static Sequential ConvBnRelu6(int inChannels, int outChannels, int kernel, int stride, int groups) =>
        Sequential(
            Conv2d(inChannels, outChannels, kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false),
            BatchNorm2d(outChannels),
            ReLU6());

    public override Tensor forward(Tensor input)
    {
        using var f = features.forward(input);
        using var pooled = avgpool.forward(f);
        using var flat = flatten.forward(pooled);
        return classifier.forward(flat);
    }
}

/// <summary>
/// MobileNetV2 block: [conv1x1 expand ×t - BN - ReLU6 when t ≠ 1], depthwise conv3x3(stride) - BN - ReLU6,
/// conv1x1 project - BN (linear bottleneck); the input is added when stride is 1 and channels are unchanged.
/// </summary>
public sealed class InvertedResidual : Module<Tensor, Tensor>
{
    private readonly Sequential conv;
    private readonly bool useResidual;

    public InvertedResidual(int inChannels, int outChannels, int stride, int expansion) : base("inverted-residual")
    {
        var hidden = inChannels * expansion;
        var layers = new List<Module<Tensor, Tensor>>();
        if (expansion != 1) layers.Add(MobileNetV2.ConvBnRelu6(inChannels, hidden, 1, 1, 1));
        layers.Add(MobileNetV2.ConvBnRelu6(hidden, hidden, 3, stride, hidden));
        layers.Add(Conv2d(hidden, outChannels, 1, bias: false));
        layers.Add(BatchNorm2d(outChannels));
        conv = Sequential(layers);
        useResidual = stride == 1 && inChannels == outChannels;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (!useResidual) return conv.forward(input);
        using var y = conv.forward(input);
        return y + input;
    }
}
