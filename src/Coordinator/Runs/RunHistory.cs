using System.Globalization;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Runs;

/// <summary>One row of eval.csv: a model's (or the ensemble's) metrics on one split, by column name; null where undefined.</summary>
public sealed record RecordedEvaluation(int Epoch, long GlobalStep, string Model, string Role, string Split, IReadOnlyDictionary<string, double?> Values);

/// <summary>
/// What an interrupted run wrote before it was resumed, read back from <c>RUN/metrics/</c> (steps.csv and eval.csv, already cut
/// to the checkpoint's step by <see cref="P2PDistill.Shared.Runs.MetricsWriter.TruncateAfter"/>): the learning curves and the
/// summary start from it, so that a resumed run reports every epoch from the first, as a run that never stopped does.
/// </summary>
public sealed class RunHistory
{
    private RunHistory(IReadOnlyList<(long GlobalStep, string Model, double Loss)> losses, IReadOnlyList<string> metricColumns,
        IReadOnlyList<RecordedEvaluation> evaluations)
    {
        Losses = losses;
        MetricColumns = metricColumns;
        Evaluations = evaluations;
    }

    /// <summary>Each model's training loss at each recorded step, in file order.</summary>
    public IReadOnlyList<(long GlobalStep, string Model, double Loss)> Losses { get; }

    /// <summary>eval.csv's metric columns (between role and split); the first is the headline.</summary>
    public IReadOnlyList<string> MetricColumns { get; }

    /// <summary>Every row of eval.csv, in file order.</summary>
    public IReadOnlyList<RecordedEvaluation> Evaluations { get; }

    /// <summary>Reads <paramref name="runDirectory"/>'s metrics; missing files read as empty, rows that do not parse are skipped.</summary>
    public static RunHistory Read(string runDirectory)
    {
        var dir = Path.Combine(runDirectory, "metrics");
        var losses = new List<(long, string, double)>();
        foreach (var row in Rows(Path.Combine(dir, "steps.csv"), out _))
            if (Long(row, "global_step") is { } step && row.GetValueOrDefault("model") is { Length: > 0 } model && Double(row, "loss") is { } loss)
                losses.Add((step, model, loss));

        var evaluations = new List<RecordedEvaluation>();
        var rows = Rows(Path.Combine(dir, "eval.csv"), out var header);
        var metrics = header.Length > 5 ? header[4..^1] : [];
        foreach (var row in rows)
        {
            if (Long(row, "epoch") is not { } epoch || Long(row, "global_step") is not { } step) continue;
            var values = metrics.ToDictionary(c => c, c => Double(row, c));
            evaluations.Add(new RecordedEvaluation((int)epoch, step, row.GetValueOrDefault("model") ?? "", row.GetValueOrDefault("role") ?? "",
                row.GetValueOrDefault("split") ?? "test", values));
        }
        return new RunHistory(losses, metrics, evaluations);
    }

    /// <summary>
    /// <paramref name="result"/> (the resumed part of the run) with the evaluations recorded before it prepended, as
    /// <see cref="EvalRecord"/>s whose metrics are laid out as <paramref name="layout"/> (the task's,
    /// <see cref="P2PDistill.Shared.Tasks.ITrainingTask.MetricsLayout"/>: the layout of its live evaluations too, so it serves
    /// whether or not the resumed part made one); unchanged when nothing was recorded before it.
    /// </summary>
    public CohortResult Before(CohortResult result, IModelMetrics layout)
    {
        var live = result.Evaluations.Select(e => e.GlobalStep).ToHashSet();
        var earlier = Evaluations.Where(e => !live.Contains(e.GlobalStep))
            .GroupBy(e => (e.Epoch, e.GlobalStep))
            .Select(g => Record(g.Key.Epoch, g.Key.GlobalStep, g.Where(e => e.Split == "test").ToList(), layout) is { } test
                ? test with { Val = Record(g.Key.Epoch, g.Key.GlobalStep, g.Where(e => e.Split == "val").ToList(), layout) }
                : null)
            .OfType<EvalRecord>().ToList();
        return earlier.Count == 0 ? result : result with { Evaluations = [.. earlier, .. result.Evaluations] };
    }

    private static EvalRecord? Record(int epoch, long step, List<RecordedEvaluation> rows, IModelMetrics template)
    {
        if (rows.Count == 0) return null;
        var models = rows.Where(r => r.Role != "ensemble")
            .Select(r => new ModelEvalRecord(r.Model, r.Role == "teacher" ? ModelRole.Teacher : ModelRole.Student, new RecordedMetrics(template, r.Values)))
            .ToList();
        var ensemble = rows.FirstOrDefault(r => r.Role == "ensemble") is { } e ? new RecordedMetrics(template, e.Values) : null;
        return new EvalRecord(epoch - 1, step, models, ensemble);
    }

    private static List<Dictionary<string, string>> Rows(string path, out string[] header)
    {
        header = [];
        if (!File.Exists(path)) return [];
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0) return [];
        header = lines[0].Split(',');
        var columns = header;
        return lines.Skip(1).Select(l => l.Split(',')).Where(v => v.Length == columns.Length)
            .Select(v => columns.Zip(v).ToDictionary(p => p.First, p => p.Second)).ToList();
    }

    private static long? Long(Dictionary<string, string> row, string column) =>
        long.TryParse(row.GetValueOrDefault(column), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static double? Double(Dictionary<string, string> row, string column) =>
        double.TryParse(row.GetValueOrDefault(column), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
}

/// <summary>
/// A model's metrics read back from eval.csv: the values recorded, laid out as <paramref name="template"/> (the same task's live
/// metrics) lays out its own: column names, titles, formats and which columns the summary's table shows. A column the file does
/// not hold (detection's per-class AP) is undefined. The score is the column titled as the template's score, else the headline.
/// </summary>
internal sealed class RecordedMetrics(IModelMetrics template, IReadOnlyDictionary<string, double?> values) : IModelMetrics
{
    public double Headline => Columns.Count > 0 ? Columns[0].Value ?? double.NaN : double.NaN;
    public string HeadlineName => template.HeadlineName;

    public double Score => template.Columns.FirstOrDefault(c => c.Title == template.ScoreName) is { Name: var name } && values.GetValueOrDefault(name) is { } score
        ? score
        : Headline;

    public string ScoreName => template.ScoreName;
    public int Count => template.Count;
    public IReadOnlyList<MetricColumn> Columns => [.. template.Columns.Select(Recorded)];
    public IReadOnlyList<MetricColumn> TableColumns => [.. template.TableColumns.Select(Recorded)];
    public IReadOnlyList<MetricColumn> ReportColumns => [.. template.ReportColumns.Select(Recorded)];

    public IReadOnlyDictionary<string, double> ToDictionary() =>
        values.Where(v => v.Value is not null).ToDictionary(v => v.Key, v => v.Value!.Value);

    private MetricColumn Recorded(MetricColumn column) => column with { Value = values.GetValueOrDefault(column.Name) };
}
