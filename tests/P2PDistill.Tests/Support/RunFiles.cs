using System.Globalization;
using P2PDistill.Shared.Runs;
using P2PDistill.Coordinator.Runs;

namespace P2PDistill.Tests.Support;

/// <summary>One row of <c>metrics/steps.csv</c>: one model's part in one step.</summary>
public sealed record StepRow(int Epoch, int Step, long GlobalStep, string Model, string Role, double Loss, double Ce, double Kd, double Ml);

/// <summary>One row of <c>metrics/eval.csv</c>: one model's (or the ensemble's) evaluation.</summary>
public sealed record EvalRow(int Epoch, long GlobalStep, string Model, string Role, double Accuracy, double MacroF1);

/// <summary>
/// The files of a run directory, read by column name (the headers are <see cref="MetricsWriter"/>'s), so that a test
/// never depends on a column's position.
/// </summary>
public sealed class RunFiles(string runDirectory)
{
    public string Path { get; } = runDirectory;

    public IReadOnlyList<StepRow> Steps() => Read("steps.csv", MetricsWriter.StepsCsvHeader, c => new StepRow(
        c.Int("epoch"), c.Int("step"), c.Long("global_step"), c["model"], c["role"], c.Double("loss"), c.Double("ce"), c.Double("kd"), c.Double("ml")));

    public IReadOnlyList<EvalRow> Evaluations() => Read("eval.csv", MetricsWriter.EvalCsvHeader, c => new EvalRow(
        c.Int("epoch"), c.Long("global_step"), c["model"], c["role"], c.Double("accuracy"), c.Double("macro_f1")));

    /// <summary>The models that trained each step.</summary>
    public Dictionary<long, List<string>> ModelsPerStep() =>
        Steps().GroupBy(r => r.GlobalStep).ToDictionary(g => g.Key, g => g.Select(r => r.Model).ToList());

    /// <summary>Every step from 1 to <paramref name="steps"/> recorded, each model at most once per step: no gap, no duplicate.</summary>
    public Dictionary<long, List<string>> AssertEveryStepOnce(long steps)
    {
        var perStep = ModelsPerStep();
        Assert.Equal(Enumerable.Range(1, (int)steps).Select(i => (long)i), perStep.Keys.Order());
        Assert.All(perStep, kv => Assert.True(kv.Value.Count == kv.Value.Distinct().Count(), $"step {kv.Key} has a duplicated row: {string.Join(", ", kv.Value)}"));
        return perStep;
    }

    private IReadOnlyList<T> Read<T>(string file, string header, Func<Columns, T> row)
    {
        var lines = File.ReadAllLines(System.IO.Path.Combine(Path, "metrics", file));
        Assert.True(lines.Length > 0 && lines[0] == header, $"{file}: unexpected header '{lines.FirstOrDefault()}'");
        var names = header.Split(',').Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i);
        return lines.Skip(1).Where(l => l.Length > 0).Select(l => row(new Columns(names, l.Split(',')))).ToList();
    }

    private readonly record struct Columns(Dictionary<string, int> Names, string[] Values)
    {
        public string this[string name] => Values[Names[name]];
        public int Int(string name) => int.Parse(this[name], CultureInfo.InvariantCulture);
        public long Long(string name) => long.Parse(this[name], CultureInfo.InvariantCulture);
        public double Double(string name) => this[name].Length == 0 ? double.NaN : double.Parse(this[name], CultureInfo.InvariantCulture);
    }
}
