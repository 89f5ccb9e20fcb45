using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Losses;
using TorchSharp;
using static P2PDistill.Tests.Detection.Losses.DetectionLossTesting;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Losses;

/// <summary>The detector student and teacher losses: w·task + alpha·KD + beta·ML as the mode makes them, logged like classification's.</summary>
[Trait("Category", "Unit")]
public sealed class DetectionStudentLossSpecs
{
    private const int Batch = 2;
    private static readonly DetectionLayout Layout = Small;
    private static readonly DistillationSettings Settings =
        new(DistillMode.KdMl, WeightCe: 0.5, Alpha: 2, Beta: 3, TemperatureKd: 2, TemperatureMl: 1.5);

    private static readonly DetectionTargets Targets =
        DetectionAssigner.Assign(Layout, [[new Box(0, 2, 3, 19, 25), new Box(1, 10, 6, 31, 17)], [new Box(1, 0, 0, 32, 32)]]);

    private static readonly double[][] Students = Enumerable.Range(0, 3).Select(i => RandomMap(50 + i, Batch, Layout)).ToArray();
    private static readonly double[] TeacherMap = RandomMap(60, Batch, Layout, scale: 3);

    [Theory]
    [InlineData(DistillMode.Independent)]
    [InlineData(DistillMode.Kd)]
    [InlineData(DistillMode.Ml)]
    [InlineData(DistillMode.KdMl)]
    public void Should_report_every_term_and_total_only_those_of_the_mode(DistillMode mode)
    {
        using var scope = NewDisposeScope();
        var settings = Settings with { Mode = mode };

        var loss = Student(settings, out _);

        double task = DetectionLoss.Task(MapTensor(Students[0], Batch, Layout), Targets.ToTensors(ScalarType.Float64), Layout).Total.ToDouble();
        double kd = ReferenceKd(Students[0], TeacherMap, Batch, Layout, Settings.TemperatureKd);
        double ml = (ReferenceKd(Students[0], Students[1], Batch, Layout, Settings.TemperatureMl)
                     + ReferenceKd(Students[0], Students[2], Batch, Layout, Settings.TemperatureMl)) / 2;
        AssertClose(task, loss.Ce.ToDouble(), 1e-12, "task");
        AssertClose(kd, loss.Kd.ToDouble(), 1e-9, "kd");
        AssertClose(ml, loss.Ml.ToDouble(), 1e-9, "ml");
        double expected = 0.5 * task + (mode.UsesTeacher() ? 2 * kd : 0) + (mode.UsesPeers() ? 3 * ml : 0);
        AssertClose(expected, loss.Total.ToDouble(), 1e-9, "total");
    }

    [Fact]
    public void Should_give_only_the_task_gradient_in_independent_mode()
    {
        using var scope = NewDisposeScope();
        Student(Settings with { Mode = DistillMode.Independent }, out var independent).Total.backward();

        var student = MapTensor(Students[0], Batch, Layout).requires_grad_();
        (DetectionLoss.Task(student, Targets.ToTensors(ScalarType.Float64), Layout).Total * 0.5).backward();

        Assert.Equal(Values(student.grad!), Values(independent.grad!));
    }

    [Fact]
    public void Should_report_absent_distillation_inputs_as_zero()
    {
        using var scope = NewDisposeScope();
        var map = MapTensor(Students[0], Batch, Layout);
        var t = Targets.ToTensors(ScalarType.Float64);

        var loss = DetectionLoss.Student(map, t, Layout, Settings, null, null);

        Assert.Equal(0.0, loss.Kd.ToDouble());
        Assert.Equal(0.0, loss.Ml.ToDouble());
        Assert.Equal(0.5 * loss.Ce.ToDouble(), loss.Total.ToDouble(), 14);
    }

    [Fact]
    public void Should_compute_the_student_loss_in_float32_as_in_float64()
    {
        using var scope = NewDisposeScope();
        var sums = DetectionPeerTargets.Build(Students, Batch, Layout, Settings.TemperatureMl)[0];

        LossParts In(ScalarType dtype)
        {
            var loss = DetectionLoss.Student(
                MapTensor(Students[0], Batch, Layout).to_type(dtype), Targets.ToTensors(dtype), Layout, Settings,
                MapTensor(TeacherMap, Batch, Layout).to_type(dtype), sums.ToTensors(Batch, Layout, dtype));
            Assert.Equal(dtype, loss.Total.dtype);
            return loss.ToParts();
        }

        var (in32, in64) = (In(ScalarType.Float32), In(ScalarType.Float64));
        AssertClose(in64.Kd, in32.Kd, 1e-5, "kd");
        AssertClose(in64.Ml, in32.Ml, 1e-5, "ml");
        AssertClose(in64.Total, in32.Total, 1e-5, "total");
    }

    [Fact]
    public void Should_train_the_teacher_on_the_task_loss_alone()
    {
        using var scope = NewDisposeScope();
        var map = MapTensor(TeacherMap, Batch, Layout);
        var t = Targets.ToTensors(ScalarType.Float64);

        var parts = DetectionLoss.Teacher(map, t, Layout).ToParts();

        double task = DetectionLoss.Task(map, t, Layout).Total.ToDouble();
        Assert.Equal(new LossParts(task, task, 0, 0), parts);
    }

    private static LossTensors Student(DistillationSettings settings, out Tensor student)
    {
        student = MapTensor(Students[0], Batch, Layout).requires_grad_();
        var peers = DetectionPeerTargets.Build(Students, Batch, Layout, settings.TemperatureMl)[0].ToTensors(Batch, Layout, ScalarType.Float64);
        return DetectionLoss.Student(student, Targets.ToTensors(ScalarType.Float64), Layout, settings, MapTensor(TeacherMap, Batch, Layout), peers);
    }
}
