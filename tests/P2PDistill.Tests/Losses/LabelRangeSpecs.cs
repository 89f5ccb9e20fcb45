using P2PDistill.Shared.Data;
using P2PDistill.Shared.Tasks;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Losses;

/// <summary>Labels travel on the wire in TrainStep: a label outside [0, classes) is refused by name, never fed to libtorch (issue 16).</summary>
[Trait("Category", "Unit")]
public sealed class LabelRangeSpecs
{
    [Theory]
    [InlineData(4)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void Should_refuse_a_label_outside_the_classes(int label)
    {
        var task = new ClassificationTask(4);
        var batch = new ImageBatch(new ImageShape(1, 2, 2), new byte[2 * 4], [1, label]);
        using var output = zeros(2, 4);
        var e = Assert.Throws<ArgumentException>(() => task.TeacherLoss(output, batch));
        Assert.Contains($"label {label} of image 1 is outside the 4 classes", e.Message);
    }

    [Fact]
    public void Should_take_every_label_inside_the_classes()
    {
        var task = new ClassificationTask(4);
        var batch = new ImageBatch(new ImageShape(1, 2, 2), new byte[4 * 4], [0, 1, 2, 3]);
        using var output = zeros(4, 4);
        var loss = task.TeacherLoss(output, batch);
        Assert.Equal(Math.Log(4), loss.Total.item<float>(), 5);
    }
}
