using System.Globalization;
using System.Text.Json;
using P2PDistill.Shared.Runs;

namespace P2PDistill.Testing;

/// <summary>One row of <c>metrics/steps.csv</c>: one model's part in one step.</summary>
public sealed record StepRow(
    int Epoch, int Step, long GlobalStep, string Model, string Role, double Loss, double Ce, double Kd, double Ml,
    double BatchAccuracy, double LearningRate, double ComputeMs, double StepSeconds)
{
    /// <summary>Every number of the row after the model and role.</summary>
    public IReadOnlyList<double> Measures => [Loss, Ce, Kd, Ml, BatchAccuracy, LearningRate, ComputeMs, StepSeconds];
}

/// <summary>One row of <c>metrics/eval.csv</c>: one model's (or the ensemble's) evaluation; the last three only where defined.</summary>
public sealed record EvalRow(
    int Epoch, long GlobalStep, string Model, string Role, double Accuracy, double MacroF1, double Nll,
    double? Auc, double? Sensitivity, double? Specificity, string Split);

/// <summary>One line of <c>metrics/steps.jsonl</c>: a whole step as the coordinator timed it.</summary>
public sealed record StepLogRow(
    int Epoch, int Step, long GlobalStep, int BatchSize, double Seconds, double CoordinationMs, long BytesSent, long BytesReceived,
    IReadOnlyList<ModelStepLog> Models);

/// <summary>One model's part of a <see cref="StepLogRow"/>.</summary>
public sealed record ModelStepLog(string Model, string Role, double Loss, double Ce, double Kd, double Ml, double BatchAccuracy, double LearningRate, double ComputeMs);

/// <summary>
/// The metrics of a run directory as typed rows: the CSV files read by column name (the headers are
/// <see cref="MetricsWriter"/>'s, checked), the JSON lines by property name, so that no reader depends on a column's position.
/// </summary>
public sealed class RunFiles(string runDirectory)
{
    public string Path { get; } = runDirectory;

    /// <summary>The path of <c>metrics/FILE</c>.</summary>
    public string Metrics(string file) => System.IO.Path.Combine(Path, "metrics", file);

    public IReadOnlyList<StepRow> Steps() => ReadCsv("steps.csv", MetricsWriter.StepsCsvHeader, c => new StepRow(
        c.Int("epoch"), c.Int("step"), c.Long("global_step"), c["model"], c["role"], c.Double("loss"), c.Double("ce"), c.Double("kd"), c.Double("ml"),
        c.Double("batch_accuracy"), c.Double("learning_rate"), c.Double("compute_ms"), c.Double("step_seconds")));

    public IReadOnlyList<EvalRow> Evaluations() => ReadCsv("eval.csv", MetricsWriter.EvalCsvHeader, c => new EvalRow(
        c.Int("epoch"), c.Long("global_step"), c["model"], c["role"], c.Double("accuracy"), c.Double("macro_f1"), c.Double("nll"),
        c.OptionalDouble("auc"), c.OptionalDouble("sensitivity"), c.OptionalDouble("specificity"), c["split"]));

    public IReadOnlyList<StepLogRow> StepLog() => File.ReadLines(Metrics("steps.jsonl")).Where(l => !string.IsNullOrWhiteSpace(l)).Select(line =>
    {
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        return new StepLogRow(
            r.GetProperty("epoch").GetInt32(), r.GetProperty("step").GetInt32(), r.GetProperty("global_step").GetInt64(), r.GetProperty("batch_size").GetInt32(),
            r.GetProperty("seconds").GetDouble(), r.GetProperty("coordination_ms").GetDouble(), r.GetProperty("bytes_sent").GetInt64(),
            r.GetProperty("bytes_received").GetInt64(),
            r.GetProperty("models").EnumerateArray().Select(m => new ModelStepLog(
                m.GetProperty("model").GetString()!, m.GetProperty("role").GetString()!, m.GetProperty("loss").GetDouble(), m.GetProperty("ce").GetDouble(),
                m.GetProperty("kd").GetDouble(), m.GetProperty("ml").GetDouble(), m.GetProperty("batch_accuracy").GetDouble(),
                m.GetProperty("learning_rate").GetDouble(), m.GetProperty("compute_ms").GetDouble())).ToList());
    }).ToList();

    /// <summary>Steps recorded so far (lines of steps.jsonl), read while the run writes them; 0 before the file exists.</summary>
    public int StepsWritten()
    {
        if (!File.Exists(Metrics("steps.jsonl"))) return 0;
        using var stream = new FileStream(Metrics("steps.jsonl"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var buffer = new byte[1 << 16];
        int lines = 0;
        for (int read; (read = stream.Read(buffer, 0, buffer.Length)) > 0;) lines += buffer.AsSpan(0, read).Count((byte)'\n');
        return lines;
    }

    /// <summary>The models that trained each step.</summary>
    public Dictionary<long, List<string>> ModelsPerStep() =>
        Steps().GroupBy(r => r.GlobalStep).ToDictionary(g => g.Key, g => g.Select(r => r.Model).ToList());

    private IReadOnlyList<T> ReadCsv<T>(string file, string header, Func<Columns, T> row)
    {
        var lines = File.ReadAllLines(Metrics(file));
        if (lines.Length == 0 || lines[0] != header) throw new InvalidDataException($"{file}: unexpected header '{lines.FirstOrDefault()}'");
        var names = header.Split(',').Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i);
        return lines.Skip(1).Where(l => l.Length > 0).Select(l => row(new Columns(names, l.Split(',')))).ToList();
    }

    private readonly record struct Columns(Dictionary<string, int> Names, string[] Values)
    {
        public string this[string name] => Values[Names[name]];
        public int Int(string name) => int.Parse(this[name], CultureInfo.InvariantCulture);
        public long Long(string name) => long.Parse(this[name], CultureInfo.InvariantCulture);
        public double Double(string name) => OptionalDouble(name) ?? double.NaN;
        public double? OptionalDouble(string name) => this[name].Length == 0 ? null : double.Parse(this[name], CultureInfo.InvariantCulture);
    }
}
