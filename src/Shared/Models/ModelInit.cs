using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Models;

/// <summary>Weight initialisation shared by the TorchVision-style networks.</summary>
internal static class ModelInit
{
    /// <summary>
    /// Convolutions: Kaiming-normal, fan-out, ReLU gain; biases 0. Batch norm: weight 1, bias 0. Linear: when
    /// <paramref name="linearStd"/> is given, weight N(0, std) and bias 0, else left at TorchSharp's default.
    /// </summary>
    public static void TorchVisionStyle(nn.Module root, double? linearStd)
    {
        using var noGrad = torch.no_grad();
        foreach (var module in root.modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
                    if (conv.bias is { } convBias) nn.init.zeros_(convBias);
                    break;
                case BatchNorm2d bn:
                    if (bn.weight is { } w) nn.init.ones_(w);
                    if (bn.bias is { } b) nn.init.zeros_(b);
                    break;
                case Linear linear when linearStd is { } std:
                    nn.init.normal_(linear.weight, 0, std);
                    if (linear.bias is { } linearBias) nn.init.zeros_(linearBias);
                    break;
            }
        }
    }
}
