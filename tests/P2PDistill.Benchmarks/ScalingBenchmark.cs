using System.Globalization;
using System.Text;
using P2PDistill.Benchmarks.Support;

namespace P2PDistill.Benchmarks;

/// <summary>
/// 1 teacher + N students for each N of a list, tiny models on synthetic data so that compute does not dominate: the
/// median step overhead (step wall time − the slowest model's compute) and the coordinator's bytes per step against N,
/// with least-squares lines whose slopes are the cost of one more student.
/// </summary>
public static class ScalingBenchmark
{
    public static BenchOptions Options() => new BenchOptions()
        .Declare("students", "1,2,4,8,16", "cohort sizes to run")
        .Declare("runner", "multi-process", "multi-process (one process per node) or embedded (one process)")
        .Declare("model", "tiny", "architecture of teacher and students")
        .Declare("steps", "60", "training steps per run")
        .Declare("warmup", "10", "first steps left out of the figures")
        .Declare("batch-size", "128", "images per step")
        .Declare("mode", "kd-ml", "independent, kd, ml or kd-ml")
        .Declare("threads", "1", "threads per model")
        .Declare("results", Path.Combine("runs", "benchmarks"), "results folder (runs and reports)")
        .Declare("timeout-minutes", "30", "give up on a run after this long");

    public static int Run(BenchOptions o, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        var kind = RunnerKinds.Parse(o["runner"]);
        var results = Path.GetFullPath(o["results"]);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", inv);
        var machine = CohortRunner.Machine();
        output.WriteLine($"scaling: {kind.Name()}, teacher + N x {o["model"]}, N = {o["students"]}, synthetic, batch {o["batch-size"]}, {o["steps"]} steps");
        output.WriteLine($"machine: {machine}");

        var rows = new List<(int N, CohortOutcome Outcome, StepStats? Stats)>();
        foreach (var n in o.Ints("students"))
        {
            var spec = new CohortSpec($"scaling-{stamp}-{kind.Name()}-n{n}", kind, n, o["model"], o["model"], o["mode"],
                "synthetic", null, o.Int("batch-size"), o.Int("steps"), 1, 256, o.Int("threads"), o.Int("threads"), o.Int("threads"));
            CohortOutcome outcome;
            try
            {
                outcome = CohortRunner.Run(spec, results, TimeSpan.FromMinutes(o.Double("timeout-minutes")), output);
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                output.WriteLine($"  N = {n}: failed: {CohortRunner.Brief(e.Message)}");
                rows.Add((n, new CohortOutcome(spec, Path.Combine(results, "runs", spec.Name), -1, 0, [], 0), null));
                continue;
            }
            var stats = outcome.Steps.Count > 0 ? StepStats.Of(outcome.Steps, o.Int("warmup"), sequential: false) : null;
            rows.Add((n, outcome, stats));
            output.WriteLine(stats is null
                ? $"  N = {n}: no steps recorded (exit {outcome.ExitCode})"
                : string.Create(inv, $"  N = {n}: median step {stats.MedianStepMs:F1} ms, overhead {stats.MedianOverheadMs:F1} ms, bytes out/in {stats.MedianBytesSent:N0} / {stats.MedianBytesReceived:N0}"));
        }

        var report = Report(o, kind, machine, rows);
        Directory.CreateDirectory(results);
        var path = Path.Combine(results, $"scaling-{stamp}.md");
        File.WriteAllText(path, report);
        var csv = Path.Combine(results, $"scaling-{stamp}.csv");
        File.WriteAllLines(csv, new[] { "students,nodes,steps,median_step_ms,median_slowest_ms,median_overhead_ms,median_coordination_ms,bytes_sent,bytes_received" }
            .Concat(rows.Where(r => r.Stats is not null).Select(r => string.Create(inv,
                $"{r.N},{r.Outcome.Nodes},{r.Stats!.Steps},{r.Stats.MedianStepMs:F3},{r.Stats.MedianSlowestMs:F3},{r.Stats.MedianOverheadMs:F3},{r.Stats.MedianCoordinationMs:F3},{r.Stats.MedianBytesSent:F0},{r.Stats.MedianBytesReceived:F0}"))));
        output.WriteLine();
        output.WriteLine(report);
        output.WriteLine($"Written to {path} and {csv}");
        return rows.All(r => r.Stats is not null && r.Outcome.ExitCode == 0) ? 0 : 1;
    }

    private static string Report(BenchOptions o, RunnerKind kind, string machine, IReadOnlyList<(int N, CohortOutcome Outcome, StepStats? Stats)> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# Scaling the students: teacher + N x {o["model"]}, synthetic 1x28x28, batch {o["batch-size"]}, mode {o["mode"]}, runner {kind.Name()}");
        sb.AppendLine();
        sb.AppendLine(inv, $"- {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {machine}");
        sb.Append(inv, $"- {o["steps"]} steps per run, the first {o["warmup"]} (at most half) left out; {o["threads"]} thread(s) per model; ");
        sb.AppendLine(kind == RunnerKind.MultiProcess ? "one process per node (coordinator + teacher + N students)" : "all nodes in one process (embedded)");
        sb.AppendLine("- overhead: step wall time − the slowest model's forward + backward; bytes: step messages the coordinator sent / received per step");
        sb.AppendLine();
        sb.AppendLine("| N students | processes | median step ms | slowest model ms | overhead ms | overhead per student ms | bytes out / step | bytes in / step |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var (n, outcome, s) in rows)
        {
            if (s is null)
            {
                sb.AppendLine(inv, $"| {n} | {outcome.Nodes} | failed (exit {outcome.ExitCode}; logs in {outcome.RunDirectory}/logs) | | | | | |");
                continue;
            }
            sb.AppendLine(inv, $"| {n} | {outcome.Nodes} | {s.MedianStepMs:F1} | {s.MedianSlowestMs:F1} | {s.MedianOverheadMs:F1} | {s.MedianOverheadMs / n:F2} | {s.MedianBytesSent:N0} | {s.MedianBytesReceived:N0} |");
        }
        var ok = rows.Where(r => r.Stats is not null).ToList();
        if (ok.Count >= 2)
        {
            var x = ok.Select(r => (double)r.N).ToList();
            sb.AppendLine();
            sb.AppendLine("Least-squares lines against N (slope = the cost of one more student; R² near 1 = linear):");
            sb.AppendLine();
            foreach (var (name, unit, pick) in new (string, string, Func<StepStats, double>)[]
                     {
                         ("overhead", "ms", s => s.MedianOverheadMs), ("step", "ms", s => s.MedianStepMs),
                         ("bytes out", "B", s => s.MedianBytesSent), ("bytes in", "B", s => s.MedianBytesReceived),
                     })
            {
                var y = ok.Select(r => pick(r.Stats!)).ToList();
                var (a, b) = StepStats.Fit(x, y);
                sb.AppendLine(inv, $"- {name}: {b:N2} {unit} per student {(a < 0 ? "−" : "+")} {Math.Abs(a):N2} {unit} (R² {StepStats.RSquared(x, y, a, b):F3})");
            }
        }
        return sb.ToString();
    }
}
