using System.Globalization;
using System.Text.Json;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Runs;

/// <summary>
/// Writes step and evaluation metrics as CSV and JSON lines under <c>RUN/metrics/</c>, flushed after
/// every record so a killed run leaves whole rows behind.
/// </summary>
public sealed class MetricsWriter : ITrainingObserver, IDisposable
{
    public const string StepsCsvHeader = "epoch,step,global_step,model,role,loss,ce,kd,ml,batch_accuracy,learning_rate,compute_ms,step_seconds";
    public const string EvalCsvHeader = "epoch,global_step,model,role,accuracy,macro_f1,nll,auc,sensitivity,specificity,split";

    /// <summary>eval.csv's header for a task whose metrics have <paramref name="metricColumns"/> (<see cref="Metrics.IModelMetrics.Columns"/>).</summary>
    public static string EvalHeader(IEnumerable<string> metricColumns) => $"epoch,global_step,model,role,{string.Join(",", metricColumns)},split";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private readonly StreamWriter stepsCsv, stepsJson, evalCsv, evalJson;
    private readonly object gate = new();

    /// <param name="evalHeader">eval.csv's header (<see cref="EvalHeader"/> of the task's metric columns); classification's by default.</param>
    public MetricsWriter(string runDirectory, string evalHeader = EvalCsvHeader)
    {
        var dir = Path.Combine(runDirectory, "metrics");
        Directory.CreateDirectory(dir);
        stepsCsv = Open(Path.Combine(dir, "steps.csv"), StepsCsvHeader);
        stepsJson = Open(Path.Combine(dir, "steps.jsonl"), null);
        evalCsv = Open(Path.Combine(dir, "eval.csv"), evalHeader);
        evalJson = Open(Path.Combine(dir, "eval.jsonl"), null);
    }

    /// <summary>
    /// Resume: drops every row written after <paramref name="step"/> (steps and evaluations), so that the resumed run
    /// appends without duplicate or missing rows. A row torn by the kill goes too: the last line when it lacks its newline
    /// (torn inside global_step, "12" of 123, it would read as a step before the checkpoint), and a CSV row whose columns are
    /// not the header's. Each file is rewritten atomically.
    /// </summary>
    public static void TruncateAfter(string runDirectory, long step)
    {
        var dir = Path.Combine(runDirectory, "metrics");
        Keep(Path.Combine(dir, "steps.csv"), l => CsvStep(l, 2) <= step);
        Keep(Path.Combine(dir, "eval.csv"), l => CsvStep(l, 1) <= step);
        Keep(Path.Combine(dir, "steps.jsonl"), l => JsonStep(l) <= step);
        Keep(Path.Combine(dir, "eval.jsonl"), l => JsonStep(l) <= step);

        static long CsvStep(string line, int column) => long.Parse(line.Split(',')[column], CultureInfo.InvariantCulture);
        static long JsonStep(string line) => JsonDocument.Parse(line).RootElement.GetProperty("global_step").GetInt64();
        static void Keep(string path, Func<string, bool> keep)
        {
            if (!File.Exists(path)) return;
            var lines = File.ReadAllText(path).Split('\n').Select(l => l.TrimEnd('\r')).ToList();
            lines.RemoveAt(lines.Count - 1); // what follows the last newline: nothing, or a torn line
            bool csv = path.EndsWith(".csv", StringComparison.Ordinal);
            int columns = csv && lines.Count > 0 ? lines[0].Split(',').Length : 0;
            var kept = lines.Where((l, i) => (csv && i == 0) || (l.Length > 0 && SafeKeep(l))).ToArray();
            Training.AtomicFile.Write(path, tmp => File.WriteAllLines(tmp, kept));

            bool SafeKeep(string l)
            {
                if (csv && l.Split(',').Length != columns) return false;
                try { return keep(l); }
                catch (Exception e) when (e is FormatException or JsonException or IndexOutOfRangeException or KeyNotFoundException) { return false; }
            }
        }
    }

    public void OnStep(StepRecord s)
    {
        lock (gate)
        {
            foreach (var m in s.Models)
                stepsCsv.WriteLine(Csv(s.Epoch + 1, s.Step + 1, s.GlobalStep, m.Id, Role(m.Role), m.Loss.Total, m.Loss.Ce, m.Loss.Kd, m.Loss.Ml,
                    m.BatchAccuracy, m.LearningRate, m.ComputeMs, s.Seconds));
            stepsJson.WriteLine(JsonSerializer.Serialize(new
            {
                epoch = s.Epoch + 1, step = s.Step + 1, global_step = s.GlobalStep, seconds = s.Seconds, batch_size = s.BatchSize,
                coordination_ms = s.CoordinationMs, bytes_sent = s.BytesSent, bytes_received = s.BytesReceived,
                models = s.Models.Select(m => new
                {
                    model = m.Id, role = Role(m.Role), loss = m.Loss.Total, ce = m.Loss.Ce, kd = m.Loss.Kd, ml = m.Loss.Ml,
                    batch_accuracy = m.BatchAccuracy, learning_rate = m.LearningRate, compute_ms = m.ComputeMs,
                }),
            }, Json));
            stepsCsv.Flush();
            stepsJson.Flush();
        }
    }

    public void OnEvaluation(EvalRecord e)
    {
        lock (gate)
        {
            // One row per model and split: the test split, then the validation split when the data set has one.
            foreach (var (split, r) in new[] { ("test", e), ("val", e.Val) })
            {
                if (r is null) continue;
                foreach (var m in r.Models) evalCsv.WriteLine(EvalRow(r, m.Id, Role(m.Role), m.Metrics, split));
                if (r.StudentEnsemble is not null) evalCsv.WriteLine(EvalRow(r, "student-ensemble", "ensemble", r.StudentEnsemble, split));
                evalJson.WriteLine(JsonSerializer.Serialize(new
                {
                    epoch = r.Epoch + 1, global_step = r.GlobalStep, split,
                    models = r.Models.Select(m => new { model = m.Id, role = Role(m.Role), metrics = m.Metrics.ToDictionary() })
                        .Concat(r.StudentEnsemble is null ? [] : [new { model = "student-ensemble", role = "ensemble", metrics = r.StudentEnsemble.ToDictionary() }]),
                }, Json));
            }
            evalCsv.Flush();
            evalJson.Flush();
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var w in new[] { stepsCsv, stepsJson, evalCsv, evalJson })
            {
                // After a failed write (a full disk) the writer still holds the row it could not flush: closing must not
                // throw again on the way out; the failure was already reported where it happened.
                try { w.Dispose(); }
                catch (IOException) { }
            }
        }
    }

    public static string Role(ModelRole role) => role == ModelRole.Teacher ? "teacher" : "student";

    private static string EvalRow(EvalRecord e, string id, string role, IModelMetrics m, string split) =>
        Csv([e.Epoch + 1, e.GlobalStep, id, role, .. m.Columns.Select(c => (object?)c.Value), split]);

    private static StreamWriter Open(string path, string? header)
    {
        bool fresh = !File.Exists(path) || new FileInfo(path).Length == 0;
        var w = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
        if (fresh && header is not null) w.WriteLine(header);
        return w;
    }

    private static string Csv(params object?[] values) => string.Join(",", values.Select(v => v switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString(),
    }));
}
