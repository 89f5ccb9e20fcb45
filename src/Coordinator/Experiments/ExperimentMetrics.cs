using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Coordinator.Experiments;

/// <summary>
/// What an experiment's rows record for its task, and the words its report uses for them. Every figure is read through
/// <see cref="IModelMetrics"/>: the headline is <see cref="IModelMetrics.Headline"/> (accuracy; mAP@0.5) and the second score
/// is the metric named <see cref="Second"/> in <see cref="IModelMetrics.ToDictionary"/> (ROC-AUC, two classes only; mAP@0.5:0.95),
/// NaN where a model's metrics lack it. The columns of results.csv are the same for every task (<see cref="ExperimentRow.ToCsv"/>);
/// only the header names them.
/// </summary>
/// <param name="Headline">Column name of the headline in eval.csv ("accuracy", "map50").</param>
/// <param name="HeadlineTitle">Its title (<see cref="IModelMetrics.HeadlineName"/>: "accuracy", "mAP@0.5").</param>
/// <param name="Second">Column name of the second score in eval.csv ("auc", "map50_95").</param>
/// <param name="SecondTitle">Its title ("ROC-AUC", "mAP@0.5:0.95").</param>
/// <param name="SecondShort">Its title in table headings ("AUC", "mAP@0.5:0.95").</param>
/// <param name="EnsembleDescription">How the student ensemble is formed, for the report's introduction.</param>
/// <param name="NamesHeadline">
/// Whether headings and verdicts name the headline. Classification's reports leave accuracy implicit (their introduction names
/// it), as every report written before detection did, so that existing folders are reported byte for byte; other tasks name it.
/// </param>
/// <param name="CsvHeader">The header line of results.csv.</param>
public sealed record ExperimentMetrics(
    string Headline, string HeadlineTitle, string Second, string SecondTitle, string SecondShort, string EnsembleDescription,
    bool NamesHeadline, string CsvHeader)
{
    /// <summary>Accuracy, and ROC-AUC for two classes; results.csv keeps the header it had before detection.</summary>
    public static readonly ExperimentMetrics Classification = new(
        "accuracy", "accuracy", "auc", "ROC-AUC", "AUC", "the student ensemble averages the students' softmax probabilities", NamesHeadline: false,
        "students,temperature,mode,seed,epochs,steps,seconds,teacher,student_mean,ensemble,student_accuracies," +
        "teacher_auc,student_mean_auc,ensemble_auc,best_epoch,best_ensemble,best_ensemble_auc");

    /// <summary>mAP@0.5 and mAP@0.5:0.95 (COCO-style, docs/design/detection.md §4).</summary>
    public static readonly ExperimentMetrics Detection = new(
        "map50", "mAP@0.5", "map50_95", "mAP@0.5:0.95", "mAP@0.5:0.95",
        "the student ensemble averages the students' probability maps (class sigmoids, side softmaxes), then decodes them and runs NMS",
        NamesHeadline: true, HeaderOf("map50", "map50_95"));

    /// <summary>Every task's, to recognise a results.csv by its header.</summary>
    public static IReadOnlyList<ExperimentMetrics> All { get; } = [Classification, Detection];

    /// <summary>The metrics of an experiment of <paramref name="task"/>.</summary>
    public static ExperimentMetrics For(TaskKind task) => task switch
    {
        TaskKind.Classification => Classification,
        TaskKind.Detection => Detection,
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, "no experiment metrics for this task"),
    };

    /// <summary>The headline of <paramref name="metrics"/>; NaN without metrics or when it is undefined (no ground truth).</summary>
    public static double HeadlineOf(IModelMetrics? metrics) => metrics?.Headline ?? double.NaN;

    /// <summary>The second score of <paramref name="metrics"/>; NaN without metrics or when they do not define it.</summary>
    public double SecondOf(IModelMetrics? metrics) =>
        metrics is not null && metrics.ToDictionary().TryGetValue(Second, out var value) ? value : double.NaN;

    /// <summary>The systematic header: the headline's and the second score's columns suffixed with their names.</summary>
    private static string HeaderOf(string headline, string second) =>
        "students,temperature,mode,seed,epochs,steps,seconds," +
        $"teacher_{headline},student_mean_{headline},ensemble_{headline},students_{headline}," +
        $"teacher_{second},student_mean_{second},ensemble_{second},best_epoch,best_ensemble_{headline},best_ensemble_{second}";
}
