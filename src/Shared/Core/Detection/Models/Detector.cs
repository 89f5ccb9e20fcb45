using P2PDistill.Shared.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace P2PDistill.Shared.Detection;

/// <summary>The widths of a <see cref="Detector"/>: backbone base width (doubled per stage), neck and head width, head depth.</summary>
public sealed record DetectorWidths(int Base, int Neck, int HeadConvs)
{
    /// <summary>det-teacher: backbone 32-64-128-256, neck and head 96, two head convolutions.</summary>
    public static DetectorWidths Teacher { get; } = new(32, 96, 2);

    /// <summary>det-student: backbone 8-16-32-64, neck and head 32, one head convolution.</summary>
    public static DetectorWidths Student { get; } = new(8, 32, 1);
}

/// <summary>
/// A small anchor-free one-stage detector in the FCOS / GFL style (docs/design/detection.md §1). Backbone: five 3×3
/// conv-BN-ReLU blocks, stride 2 at the first and each later stage, giving features at strides 8 (4·base channels) and
/// 16 (8·base). Neck: 1×1 laterals, a top-down nearest upsampling sum, a 3×3 smoothing conv per level. Head, shared by
/// the levels: <see cref="DetectorWidths.HeadConvs"/> 3×3 conv-GroupNorm-ReLU layers, then a 3×3 class conv (C logits,
/// bias at the 0.01 prior) and a 3×3 box conv (4·B side-distribution logits). The output is the dense map [N, L, C + 4B],
/// levels in order, locations row-major inside a level: the layout of <see cref="DetectionLayout"/>.
/// </summary>
public sealed class Detector : Module<Tensor, Tensor>, ISeededInitialization
{
    /// <summary>The class bias that makes every sigmoid start at 0.01 (focal-loss prior, Lin et al. 2017).</summary>
    public static readonly double PriorBias = -Math.Log((1 - 0.01) / 0.01);

    private readonly Sequential stem;
    private readonly Sequential stage8;
    private readonly Sequential stage16;
    private readonly Conv2d lateral8;
    private readonly Conv2d lateral16;
    private readonly Conv2d smooth8;
    private readonly Conv2d smooth16;
    private readonly Sequential head;
    private readonly Conv2d classes;
    private readonly Conv2d sides;
    private readonly int numClasses;
    private readonly int bins;

    public Detector(string name, int inChannels, int numClasses, DetectorWidths widths, int bins = DetectionLayout.DefaultBins) : base(name)
    {
        this.numClasses = numClasses;
        this.bins = bins;
        int w = widths.Base, f = widths.Neck;
        stem = Sequential(Block(inChannels, w, 2), Block(w, w, 1), Block(w, 2 * w, 2));
        stage8 = Sequential(Block(2 * w, 4 * w, 2));
        stage16 = Sequential(Block(4 * w, 8 * w, 2));
        lateral8 = Conv2d(4 * w, f, 1);
        lateral16 = Conv2d(8 * w, f, 1);
        smooth8 = Conv2d(f, f, 3, padding: 1);
        smooth16 = Conv2d(f, f, 3, padding: 1);
        var headLayers = new List<Module<Tensor, Tensor>>();
        for (int i = 0; i < widths.HeadConvs; i++)
        {
            headLayers.Add(Conv2d(f, f, 3, padding: 1));
            headLayers.Add(GroupNorm(Math.Min(8, f), f));
            headLayers.Add(ReLU());
        }
        head = Sequential(headLayers);
        classes = Conv2d(f, numClasses, 3, padding: 1);
        sides = Conv2d(f, 4 * bins, 3, padding: 1);
        RegisterComponents();
        ResetGroupNorms();
    }

    // TorchSharp 0.107's GroupNorm leaves its affine weight and bias uninitialised (seen: |bias| ~ 1e31 on a fresh module),
    // so they are set here, to PyTorch's 1 and 0, before anything can run the network.
    private void ResetGroupNorms()
    {
        using var noGrad = no_grad();
        foreach (var norm in head.modules().OfType<GroupNorm>())
        {
            if (norm.weight is { } w) init.ones_(w);
            if (norm.bias is { } b) init.zeros_(b);
        }
    }

    private static Sequential Block(int input, int output, int stride) =>
        Sequential(Conv2d(input, output, 3, stride: stride, padding: 1, bias: false), BatchNorm2d(output), ReLU());

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var c4 = stem.forward(input);
        var c8 = stage8.forward(c4);
        var c16 = stage16.forward(c8);
        var p16 = lateral16.forward(c16);
        var up = functional.interpolate(p16, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        var p8 = lateral8.forward(c8) + up;
        var map = cat([Level(smooth8.forward(p8)), Level(smooth16.forward(p16))], 1);
        return map.MoveToOuterDisposeScope();
    }

    /// <summary>One level's [N, h·w, C + 4B] rows.</summary>
    private Tensor Level(Tensor features)
    {
        var h = head.forward(features);
        var rows = cat([classes.forward(h), sides.forward(h)], 1);
        return rows.flatten(2).permute(0, 2, 1);
    }

    /// <summary>Backbone and neck TorchVision-style (Kaiming-normal, fan-out); head convolutions N(0, 0.01) with zero bias (GFL), the class bias at the prior.</summary>
    public void Initialize(Generator generator)
    {
        ModelInit.TorchVisionStyle(this, null, generator);
        using var noGrad = no_grad();
        foreach (var conv in head.modules().OfType<Conv2d>().Append(classes).Append(sides))
        {
            using (var n = randn(conv.weight!.shape, dtype: conv.weight.dtype, generator: generator))
            using (var scaled = n * 0.01)
                conv.weight.copy_(scaled);
            if (conv.bias is { } b) init.zeros_(b);
        }
        ResetGroupNorms();
        classes.bias!.fill_(PriorBias);
    }

    /// <summary>The layout of this detector's output for an input of <paramref name="height"/>×<paramref name="width"/>.</summary>
    public DetectionLayout Layout(int height, int width) => new(numClasses, height, width, bins);
}
