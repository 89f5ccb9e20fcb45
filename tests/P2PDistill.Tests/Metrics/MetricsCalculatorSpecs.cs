using P2PDistill.Shared.Metrics;

namespace P2PDistill.Tests.Metrics;

[Trait("Category", "Unit")]
public sealed class MetricsCalculatorSpecs
{
    // Three classes, six samples. Predictions (arg-max): 0, 0, 1, 2, 2, 0 against labels 0, 1, 1, 2, 2, 2.
    private static readonly float[] ThreeClassProbs =
    [
        0.7f, 0.2f, 0.1f,
        0.5f, 0.4f, 0.1f,
        0.1f, 0.8f, 0.1f,
        0.2f, 0.2f, 0.6f,
        0.1f, 0.1f, 0.8f,
        0.6f, 0.3f, 0.1f,
    ];
    private static readonly int[] ThreeClassLabels = [0, 1, 1, 2, 2, 2];

    private static float[] BinaryProbs(params float[] positiveScores) =>
        positiveScores.SelectMany(p => new[] { 1f - p, p }).ToArray();

    [Fact]
    public void Should_compute_accuracy_and_confusion_matrix()
    {
        var m = MetricsCalculator.Compute(ThreeClassProbs, 3, ThreeClassLabels);

        Assert.Equal(4.0 / 6, m.Accuracy, 12);
        Assert.Equal(6, m.Count);
        Assert.Equal(3, m.NumClasses);
        Assert.Equal([1, 0, 0], m.ConfusionMatrix[0]);
        Assert.Equal([1, 1, 0], m.ConfusionMatrix[1]);
        Assert.Equal([1, 0, 2], m.ConfusionMatrix[2]);
    }

    [Fact]
    public void Should_compute_per_class_recall_precision_and_macro_f1()
    {
        var m = MetricsCalculator.Compute(ThreeClassProbs, 3, ThreeClassLabels);

        // recall: 1/1, 1/2, 2/3; precision: 1/3, 1/1, 2/2; F1: 0.5, 2/3, 0.8.
        AssertClose([1.0, 0.5, 2.0 / 3], m.PerClassRecall);
        AssertClose([1.0 / 3, 1.0, 1.0], m.PerClassPrecision);
        AssertClose([0.5, 2.0 / 3, 0.8], m.PerClassF1);
        Assert.Equal((0.5 + 2.0 / 3 + 0.8) / 3, m.MacroF1, 12);
    }

    [Fact]
    public void Should_compute_nll_of_the_true_class_with_clamping()
    {
        var m = MetricsCalculator.Compute([0.25f, 0.75f, 1f, 0f], 2, [1, 1]);

        Assert.Equal((-Math.Log(0.75) - Math.Log(1e-12)) / 2, m.Nll, 6);
    }

    [Fact]
    public void Should_leave_binary_metrics_null_for_more_than_two_classes()
    {
        var m = MetricsCalculator.Compute(ThreeClassProbs, 3, ThreeClassLabels);

        Assert.Null(m.RocAuc);
        Assert.Null(m.Sensitivity);
        Assert.Null(m.Specificity);
    }

    [Fact]
    public void Should_count_an_absent_and_never_predicted_class_as_f1_zero()
    {
        // Class 2 has no samples and no predictions; both others are perfect.
        float[] probs = [0.9f, 0.05f, 0.05f, 0.1f, 0.8f, 0.1f];
        var m = MetricsCalculator.Compute(probs, 3, [0, 1]);

        Assert.Equal(1.0, m.Accuracy);
        AssertClose([1.0, 1.0, 0.0], m.PerClassF1);
        Assert.Equal(0.0, m.PerClassRecall[2]);
        Assert.Equal(0.0, m.PerClassPrecision[2]);
        Assert.Equal(2.0 / 3, m.MacroF1, 12);
    }

    [Fact]
    public void Should_compute_roc_auc_by_ranks()
    {
        var m = MetricsCalculator.Compute(BinaryProbs(0.1f, 0.4f, 0.35f, 0.8f), 2, [0, 0, 1, 1]);

        Assert.Equal(0.75, m.RocAuc!.Value, 12);
    }

    [Fact]
    public void Should_give_tied_scores_half_credit_in_roc_auc()
    {
        // Pairs (pos, neg): 0.5 vs 0.2 = 1, 0.5 vs 0.5 = 1/2, 0.9 vs both = 2; 3.5 of 4.
        var m = MetricsCalculator.Compute(BinaryProbs(0.2f, 0.5f, 0.5f, 0.9f), 2, [0, 0, 1, 1]);

        Assert.Equal(0.875, m.RocAuc!.Value, 12);
    }

    [Fact]
    public void Should_give_roc_auc_one_half_when_all_scores_tie()
    {
        Assert.Equal(0.5, MetricsCalculator.RocAuc([0.3f, 0.3f, 0.3f, 0.3f, 0.3f], [0, 1, 0, 1, 1]), 12);
    }

    [Fact]
    public void Should_give_roc_auc_one_for_perfect_and_zero_for_reversed_ranking()
    {
        Assert.Equal(1.0, MetricsCalculator.RocAuc([0.1f, 0.2f, 0.8f, 0.9f], [0, 0, 1, 1]), 12);
        Assert.Equal(0.0, MetricsCalculator.RocAuc([0.1f, 0.2f, 0.8f, 0.9f], [1, 1, 0, 0]), 12);
    }

    [Fact]
    public void Should_compute_sensitivity_and_specificity_with_class_one_positive()
    {
        // Positive scores 0.9, 0.6, 0.3 (labels 1): 2 of 3 predicted positive. Negatives 0.2, 0.7, 0.1, 0.4
        // (labels 0): 3 of 4 predicted negative.
        var m = MetricsCalculator.Compute(BinaryProbs(0.9f, 0.6f, 0.3f, 0.2f, 0.7f, 0.1f, 0.4f), 2, [1, 1, 1, 0, 0, 0, 0]);

        Assert.Equal(2.0 / 3, m.Sensitivity!.Value, 12);
        Assert.Equal(3.0 / 4, m.Specificity!.Value, 12);
        Assert.Equal([3, 1], m.ConfusionMatrix[0]);
        Assert.Equal([1, 2], m.ConfusionMatrix[1]);
        // Of the 12 (positive, negative) pairs the positive wins 4 (0.9) + 3 (0.6) + 2 (0.3) = 9.
        Assert.Equal(9.0 / 12, m.RocAuc!.Value, 12);
    }

    [Fact]
    public void Should_leave_undefined_binary_metrics_null_when_one_class_is_absent()
    {
        var m = MetricsCalculator.Compute(BinaryProbs(0.2f, 0.7f), 2, [0, 0]);

        Assert.Null(m.RocAuc);
        Assert.Null(m.Sensitivity);
        Assert.Equal(0.5, m.Specificity!.Value, 12);
    }

    [Fact]
    public void Should_break_arg_max_ties_towards_the_lowest_class()
    {
        var m = MetricsCalculator.Compute([0.5f, 0.5f, 0.3f, 0.7f, 0.4f, 0.4f], 2, [1, 1, 0]);

        Assert.Equal([1, 0], m.ConfusionMatrix[0]);
        Assert.Equal([1, 1], m.ConfusionMatrix[1]);
    }

    [Fact]
    public void Should_reject_mismatched_lengths()
    {
        var ex = Assert.Throws<ArgumentException>(() => MetricsCalculator.Compute(new float[5], 2, [0, 1, 1]));
        Assert.Contains("3 labels x 2 classes = 6", ex.Message);
    }

    [Fact]
    public void Should_reject_out_of_range_labels_empty_input_and_fewer_than_two_classes()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => MetricsCalculator.Compute(new float[4], 2, [0, 2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => MetricsCalculator.Compute(new float[4], 2, [-1, 0]));
        Assert.Throws<ArgumentException>(() => MetricsCalculator.Compute([], 2, []));
        Assert.Throws<ArgumentException>(() => MetricsCalculator.Compute(new float[2], 1, [0, 0]));
    }

    [Fact]
    public void Should_summarise_scalars_for_logging()
    {
        var binary = MetricsCalculator.Compute(BinaryProbs(0.1f, 0.4f, 0.35f, 0.8f), 2, [0, 0, 1, 1]).ToDictionary();
        Assert.Equal(0.75, binary["auc"], 12);
        Assert.Equal(0.75, binary["accuracy"], 12);
        Assert.Equal(4, binary["count"]);
        Assert.Contains("sensitivity", binary.Keys);
        Assert.Contains("specificity", binary.Keys);

        var multi = MetricsCalculator.Compute(ThreeClassProbs, 3, ThreeClassLabels);
        Assert.Equal(["accuracy", "count", "macro_f1", "nll"], multi.ToDictionary().Keys.Order());
        Assert.StartsWith("acc=0.6667 macro_f1=0.6556", multi.ToString());
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
    }
}
