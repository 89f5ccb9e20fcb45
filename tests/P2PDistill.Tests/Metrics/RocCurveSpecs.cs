using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.Metrics;

/// <summary>The ROC curve of a two-class evaluation: its points, its area, and the plot every two-class run draws.</summary>
[Trait("Category", "Unit")]
public sealed class RocCurveSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Should_step_through_the_thresholds_by_hand()
    {
        // Scores 0.9 (pos), 0.8 (neg), 0.8 (pos), 0.3 (neg): thresholds 0.9, 0.8 (a tie: both rates move), 0.3.
        var roc = MetricsCalculator.Roc([0.9f, 0.8f, 0.8f, 0.3f], [1, 0, 1, 0]);

        Assert.Equal([0, 0, 0.5, 1], roc.FalsePositiveRate);
        Assert.Equal([0, 0.5, 1, 1], roc.TruePositiveRate);
        Assert.Equal(0.875, roc.Area(), 12); // 1 pair of 4 is a tie (½), 3 are ordered
    }

    [Fact]
    public void Should_have_the_area_of_the_rank_formula_on_random_scores_with_ties()
    {
        var random = new Random(7);
        var scores = Enumerable.Range(0, 500).Select(_ => MathF.Round((float)random.NextDouble(), 1)).ToArray();
        var labels = scores.Select(s => random.NextDouble() < 0.3 + 0.4 * s ? 1 : 0).ToArray();

        var roc = MetricsCalculator.Roc(scores, labels);

        Assert.Equal(MetricsCalculator.RocAuc(scores, labels), roc.Area(), 9);
        Assert.Equal((0.0, 0.0), (roc.FalsePositiveRate[0], roc.TruePositiveRate[0]));
        Assert.Equal((1.0, 1.0), (roc.FalsePositiveRate[^1], roc.TruePositiveRate[^1]));
    }

    [Fact]
    public void Should_carry_the_curve_in_two_class_metrics_only()
    {
        var binary = MetricsCalculator.Compute([0.2f, 0.8f, 0.7f, 0.3f, 0.4f, 0.6f], 2, [1, 0, 1]);
        var four = MetricsCalculator.Compute([.7f, .1f, .1f, .1f, .1f, .7f, .1f, .1f], 4, [0, 1]);

        Assert.NotNull(binary.Roc);
        Assert.Equal(binary.RocAuc!.Value, binary.Roc!.Area(), 12);
        Assert.Null(four.Roc);
    }

    [Fact]
    public void Should_draw_the_roc_png_for_two_classes_and_nothing_otherwise()
    {
        var binary = MetricsCalculator.Compute([0.2f, 0.8f, 0.7f, 0.3f, 0.4f, 0.6f], 2, [1, 0, 1]);
        var e = new EvalRecord(2, 30, [new ModelEvalRecord("teacher", ModelRole.Teacher, binary), new ModelEvalRecord("student-1", ModelRole.Student, binary)], binary);

        Assert.True(RocPlot.Draw(dir.Path, e));
        var png = File.ReadAllBytes(RocPlot.PathIn(dir.Path));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);

        var four = MetricsCalculator.Compute([.7f, .1f, .1f, .1f], 4, [0]);
        var other = Path.Combine(dir.Path, "four");
        Assert.False(RocPlot.Draw(other, new EvalRecord(0, 1, [new ModelEvalRecord("teacher", ModelRole.Teacher, four)], null)));
        Assert.False(File.Exists(RocPlot.PathIn(other)));
    }
}
