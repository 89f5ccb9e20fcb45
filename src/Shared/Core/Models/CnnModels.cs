using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace P2PDistill.Shared.Models;

/// <summary>
/// Teacher for 28x28 grayscale: conv3x3(1→32)-BN-ReLU, conv3x3(32→32)-BN-ReLU, maxpool2,
/// conv3x3(32→64)-BN-ReLU, conv3x3(64→64)-BN-ReLU, maxpool2, flatten, linear(3136→256)-ReLU-dropout(0.3),
/// linear(256→classes). All convolutions padding 1.
/// </summary>
public sealed class CnnTeacher : Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly Sequential classifier;

    public CnnTeacher(int inChannels, int numClasses) : base("cnn-teacher")
    {
        features = Sequential(
            Conv2d(inChannels, 32, 3, padding: 1), BatchNorm2d(32), ReLU(),
            Conv2d(32, 32, 3, padding: 1), BatchNorm2d(32), ReLU(),
            MaxPool2d(2),
            Conv2d(32, 64, 3, padding: 1), BatchNorm2d(64), ReLU(),
            Conv2d(64, 64, 3, padding: 1), BatchNorm2d(64), ReLU(),
            MaxPool2d(2));
        classifier = Sequential(
            Flatten(),
            Linear(64 * 7 * 7, 256), ReLU(), new SeededDropout(0.3),
            Linear(256, numClasses));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var f = features.forward(input);
        return classifier.forward(f);
    }
}

/// <summary>
/// Student for 28x28 grayscale: conv3x3(1→16)-ReLU, maxpool2, conv3x3(16→32)-ReLU, maxpool2, flatten,
/// linear(1568→64)-ReLU, linear(64→classes). All convolutions padding 1.
/// </summary>
public sealed class CnnStudent : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    public CnnStudent(int inChannels, int numClasses) : base("cnn-student")
    {
        layers = Sequential(
            Conv2d(inChannels, 16, 3, padding: 1), ReLU(), MaxPool2d(2),
            Conv2d(16, 32, 3, padding: 1), ReLU(), MaxPool2d(2),
            Flatten(),
            Linear(32 * 7 * 7, 64), ReLU(),
            Linear(64, numClasses));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => layers.forward(input);
}

/// <summary>A few hundred parameters: one 3x3 conv with 4 channels, global average pool, linear. For tests.</summary>
public sealed class TinyNet : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    public TinyNet(int inChannels, int numClasses) : base("tiny")
    {
        layers = Sequential(
            Conv2d(inChannels, 8, 3, padding: 1), ReLU(),
            AdaptiveAvgPool2d(4), Flatten(),
            Linear(8 * 4 * 4, numClasses));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => layers.forward(input);
}

/// <summary>Flatten, linear(→128)-ReLU, linear(→classes).</summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    public Mlp(int inputs, int numClasses) : base("mlp")
    {
        layers = Sequential(Flatten(), Linear(inputs, 128), ReLU(), Linear(128, numClasses));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => layers.forward(input);
}
