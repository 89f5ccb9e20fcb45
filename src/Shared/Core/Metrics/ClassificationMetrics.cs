using System.Globalization;

namespace P2PDistill.Shared.Metrics;

/// <summary>
/// Scores of one model (or of the student ensemble) on one labelled split. Built by
/// <see cref="MetricsCalculator.Compute"/>. Per-class arrays are indexed by class; the confusion matrix has
/// rows = true class, columns = predicted class. Arrays compare by reference, so two records holding equal
/// numbers are not <c>==</c>.
/// </summary>
/// <param name="Accuracy">Share of samples whose arg-max class is the true class.</param>
/// <param name="MacroF1">Unweighted mean of <paramref name="PerClassF1"/> over all <paramref name="NumClasses"/> classes.</param>
/// <param name="PerClassRecall">TP / (TP + FN); 0 for a class with no samples (scikit-learn's zero_division=0).</param>
/// <param name="PerClassPrecision">TP / (TP + FP); 0 for a class never predicted (zero_division=0).</param>
/// <param name="PerClassF1">2PR / (P + R); 0 when P + R = 0, so also for a class with neither samples nor predictions.</param>
/// <param name="ConfusionMatrix">[true][predicted] counts.</param>
/// <param name="Count">Number of samples.</param>
/// <param name="NumClasses">Number of classes.</param>
/// <param name="Nll">Mean of -ln p(true class), each probability clamped to at least 1e-12.</param>
/// <param name="RocAuc">Two classes only: area under the ROC curve of p(class 1); null otherwise or when a class is absent.</param>
/// <param name="Sensitivity">Two classes only: recall of class 1 (the positive class); null otherwise or when there is no positive sample.</param>
/// <param name="Specificity">Two classes only: recall of class 0; null otherwise or when there is no negative sample.</param>
public sealed record ClassificationMetrics(
    double Accuracy,
    double MacroF1,
    double[] PerClassRecall,
    double[] PerClassPrecision,
    double[] PerClassF1,
    int[][] ConfusionMatrix,
    int Count,
    int NumClasses,
    double Nll,
    double? RocAuc,
    double? Sensitivity,
    double? Specificity) : IModelMetrics
{
    public double Headline => Accuracy;
    public string HeadlineName => "accuracy";
    public double Score => RocAuc ?? Accuracy;
    public string ScoreName => RocAuc is null ? "accuracy" : "ROC-AUC";

    /// <summary>accuracy, macro_f1, nll, auc, sensitivity, specificity: the columns of eval.csv.</summary>
    public IReadOnlyList<MetricColumn> Columns =>
    [
        new("accuracy", "accuracy", Accuracy), new("macro_f1", "macro-F1", MacroF1), new("nll", "NLL", Nll),
        new("auc", "ROC-AUC", RocAuc), new("sensitivity", "sensitivity", Sensitivity), new("specificity", "specificity", Specificity),
    ];

    /// <summary>Accuracy and macro-F1; with two classes also ROC-AUC, sensitivity and specificity.</summary>
    public IReadOnlyList<MetricColumn> TableColumns => NumClasses == 2
        ? [Columns[0], Columns[1], Columns[3], Columns[4], Columns[5]]
        : [Columns[0], Columns[1]];

    /// <summary>Accuracy, macro-F1 and NLL; with two classes also ROC-AUC, sensitivity and specificity.</summary>
    public IReadOnlyList<MetricColumn> ReportColumns => NumClasses == 2 ? Columns : [Columns[0], Columns[1], Columns[2]];

    /// <summary>Two classes with both present: the ROC curve of p(class 1), for plots; null otherwise.</summary>
    public RocCurve? Roc { get; init; }

    /// <summary>
    /// Flat scalar summary for logging: accuracy, macro_f1, nll, count, and when defined auc, sensitivity,
    /// specificity. Per-class arrays and the confusion matrix are left out.
    /// </summary>
    public IReadOnlyDictionary<string, double> ToDictionary()
    {
        var d = new Dictionary<string, double>
        {
            ["accuracy"] = Accuracy,
            ["macro_f1"] = MacroF1,
            ["nll"] = Nll,
            ["count"] = Count,
        };
        if (RocAuc is { } auc) d["auc"] = auc;
        if (Sensitivity is { } sens) d["sensitivity"] = sens;
        if (Specificity is { } spec) d["specificity"] = spec;
        return d;
    }

    /// <summary>One line, e.g. <c>acc=0.9120 macro_f1=0.9100 nll=0.2500 auc=0.9500 sens=0.9000 spec=0.9200 n=1000</c>.</summary>
    public override string ToString()
    {
        var s = string.Create(CultureInfo.InvariantCulture, $"acc={Accuracy:F4} macro_f1={MacroF1:F4} nll={Nll:F4}");
        if (RocAuc is { } auc) s += string.Create(CultureInfo.InvariantCulture, $" auc={auc:F4}");
        if (Sensitivity is { } sens) s += string.Create(CultureInfo.InvariantCulture, $" sens={sens:F4}");
        if (Specificity is { } spec) s += string.Create(CultureInfo.InvariantCulture, $" spec={spec:F4}");
        return s + string.Create(CultureInfo.InvariantCulture, $" n={Count}");
    }
}

/// <summary>Points of a ROC curve: false-positive rate and true-positive rate, from (0, 0) to (1, 1).</summary>
public sealed record RocCurve(double[] FalsePositiveRate, double[] TruePositiveRate)
{
    /// <summary>The area under these points by the trapezoid rule (equal to the rank formula of <c>MetricsCalculator.RocAuc</c>).</summary>
    public double Area()
    {
        double area = 0;
        for (int i = 1; i < FalsePositiveRate.Length; i++)
            area += (FalsePositiveRate[i] - FalsePositiveRate[i - 1]) * (TruePositiveRate[i] + TruePositiveRate[i - 1]) / 2;
        return area;
    }
}
