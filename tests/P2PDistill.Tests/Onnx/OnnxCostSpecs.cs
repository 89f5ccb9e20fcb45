using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using TorchSharp.Modules;

namespace P2PDistill.Tests.Onnx;

/// <summary>
/// The multiply-accumulates per image an ONNX export records (<see cref="OnnxExporter.MacsKey"/>, for the compression report):
/// counted by hand for the small networks, against the published count for ResNet-18 at 224x224, and summed over an ensemble.
/// </summary>
[Trait("Category", "Unit")]
public sealed class OnnxCostSpecs
{
    private static long Macs(global::Onnx.ModelProto model) =>
        long.Parse(OnnxExporter.MetadataOf(model)[OnnxExporter.MetadataPrefix + OnnxExporter.MacsKey], System.Globalization.CultureInfo.InvariantCulture);

    private static (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Network, ModelCard Card) Model(string architecture, ModelSpec spec, string id = "student-1")
    {
        var network = ModelRegistry.Create(architecture, spec);
        network.eval();
        var names = Enumerable.Range(0, spec.NumClasses).Select(i => $"class-{i}").ToList();
        return (network, ModelCard.Create(id, "student", architecture, spec, names, Normalization.Identity(spec.Channels)));
    }

    [Fact]
    public void Should_count_the_convolutions_and_linear_layers_of_cnn_student_by_hand()
    {
        var (network, card) = Model("cnn-student", new ModelSpec(1, 28, 28, 4));
        using var _ = network;

        // conv 1→16 3x3 at 28x28, conv 16→32 3x3 at 14x14 (after a 2x2 max pool), linear 32·7·7→64, linear 64→4.
        long expected = 16L * 28 * 28 * 1 * 9 + 32L * 14 * 14 * 16 * 9 + 32L * 7 * 7 * 64 + 64L * 4;
        Assert.Equal(1_116_672, expected);
        Assert.Equal(expected, Macs(OnnxExporter.Build(network, card)));
    }

    [Fact]
    public void Should_count_an_mlp_as_the_weights_of_its_linear_layers()
    {
        var (network, card) = Model("mlp", new ModelSpec(1, 28, 28, 10));
        using var _ = network;
        long weights = network.modules().OfType<Linear>().Sum(l => l.weight!.numel());

        Assert.True(weights > 0);
        Assert.Equal(weights, Macs(OnnxExporter.Build(network, card)));
    }

    [Fact]
    public void Should_count_resnet18_at_224_as_published()
    {
        // torchvision's ResNet-18 on 3x224x224 with 1000 classes: 1,813,561,344 multiply-accumulates in its convolutions
        // (stem 118,013,952; layer1 462,422,016; layers 2-4 411,041,792 each, shortcut 1x1 convolutions included) and 512,000
        // in the classifier: the 1.81 GMACs profilers report.
        var (network, card) = Model("resnet18", new ModelSpec(3, 224, 224, 1000));
        using var _ = network;

        Assert.Equal(1_814_073_344L, Macs(OnnxExporter.Build(network, card)));
    }

    [Fact]
    public void Should_count_a_detector_in_proportion_to_its_image_area_and_sum_a_detector_ensemble()
    {
        // Convolutions only, every output map scales with the input's area: four times the pixels, four times the MACs.
        var small = Model("det-student", new ModelSpec(3, 32, 32, 2));
        var large = Model("det-student", new ModelSpec(3, 64, 64, 2), "student-2");
        var teacher = Model("det-teacher", new ModelSpec(3, 64, 64, 2), "teacher");
        using var n1 = small.Network;
        using var n2 = large.Network;
        using var n3 = teacher.Network;

        long at32 = Macs(OnnxExporter.Build(small.Network, small.Card));
        long at64 = Macs(OnnxExporter.Build(large.Network, large.Card));
        long teacherAt64 = Macs(OnnxExporter.Build(teacher.Network, teacher.Card));

        Assert.True(at32 > 0);
        Assert.Equal(4 * at32, at64);
        Assert.True(teacherAt64 > 10 * at64, $"det-teacher {teacherAt64} MACs against det-student {at64}: the teacher is ~12x larger");
        Assert.Equal(at64 + teacherAt64, Macs(OnnxExporter.BuildEnsemble([large, teacher])));
    }

    [Fact]
    public void Should_sum_the_members_in_an_ensemble()
    {
        var spec = new ModelSpec(1, 28, 28, 4);
        var a = Model("cnn-student", spec, "student-1");
        var b = Model("tiny", spec, "student-2");
        using var n1 = a.Network;
        using var n2 = b.Network;

        long one = Macs(OnnxExporter.Build(a.Network, a.Card));
        long two = Macs(OnnxExporter.Build(b.Network, b.Card));

        Assert.Equal(one + two, Macs(OnnxExporter.BuildEnsemble([a, b])));
    }
}
