namespace P2PDistill.Shared.Metrics;

/// <summary>
/// One column of a model's metrics: its name in eval.csv and eval.jsonl, its title in summary tables, its value (null: undefined),
/// and how tables print it (<see cref="Format"/>: "F4" for scores, "F0" for counts).
/// </summary>
public readonly record struct MetricColumn(string Name, string Title, double? Value, string Format = "F4");

/// <summary>
/// One model's (or the student ensemble's) scores on one split, whatever the task: what logs, metrics files, summaries and
/// learning curves need without knowing the task (classification: <see cref="ClassificationMetrics"/>).
/// </summary>
public interface IModelMetrics
{
    /// <summary>The number progress lines and learning curves show (accuracy; mAP@0.5).</summary>
    double Headline { get; }

    /// <summary>What <see cref="Headline"/> is, in words ("accuracy", "mAP@0.5").</summary>
    string HeadlineName { get; }

    /// <summary>The number the best epoch on the validation split is chosen by (ROC-AUC for two classes, else accuracy; mAP@0.5:0.95).</summary>
    double Score { get; }

    /// <summary>What <see cref="Score"/> is, in words.</summary>
    string ScoreName { get; }

    /// <summary>Images scored.</summary>
    int Count { get; }

    /// <summary>Every scalar, in a fixed order: the columns of eval.csv after (epoch, global_step, model, role).</summary>
    IReadOnlyList<MetricColumn> Columns { get; }

    /// <summary>The columns of the summary's table (a subset of <see cref="Columns"/>, titled for people).</summary>
    IReadOnlyList<MetricColumn> TableColumns { get; }

    /// <summary>
    /// The columns of a report on exported models (the <c>evaluate</c> command's table): <see cref="TableColumns"/> unless the
    /// task shows more there (classification adds NLL; detection the number of detections).
    /// </summary>
    IReadOnlyList<MetricColumn> ReportColumns => TableColumns;

    /// <summary>The defined scalars by name (eval.jsonl, the experiment's results).</summary>
    IReadOnlyDictionary<string, double> ToDictionary();
}
