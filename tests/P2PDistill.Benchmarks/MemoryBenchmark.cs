using System.Globalization;
using System.Text;
using P2PDistill.Benchmarks.Support;

namespace P2PDistill.Benchmarks;

/// <summary>
/// A long run sampling every node's resident memory (VmRSS from /proc/PID/status) every few seconds into a CSV, with the
/// training step reached at each sample; the report gives each node's start, end, peak and drift per 1000 steps
/// (least-squares, after the warm-up) — DESIGN.md §11 wants it flat over thousands of steps.
/// </summary>
public static class MemoryBenchmark
{
    public static BenchOptions Options() => new BenchOptions()
        .Declare("runner", "multi-process", "single-process, embedded or multi-process")
        .Declare("dataset", "fashion-mnist", "fashion-mnist, mnist or synthetic")
        .Declare("data-path", "", "directory of the IDX files")
        .Declare("epochs", "3", "epochs of the run")
        .Declare("steps", "0", "steps per epoch (0: whole epochs)")
        .Declare("batch-size", "128", "images per step")
        .Declare("students", "2", "students in the cohort")
        .Declare("mode", "kd-ml", "independent, kd, ml or kd-ml")
        .Declare("teacher-model", "cnn-teacher", "teacher architecture")
        .Declare("student-model", "cnn-student", "student architecture")
        .Declare("threads", "1", "threads per model (single-process: in all)")
        .Declare("test-limit", "1000", "test images of each evaluation")
        .Declare("interval", "5", "seconds between samples")
        .Declare("warmup-steps", "100", "samples before this step are left out of the drift")
        .Declare("results", Path.Combine("runs", "benchmarks"), "results folder (runs, CSV and report)")
        .Declare("timeout-minutes", "600", "give up after this long");

    public static int Run(BenchOptions o, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        var kind = RunnerKinds.Parse(o["runner"]);
        var results = Path.GetFullPath(o["results"]);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", inv);
        Directory.CreateDirectory(results);
        var csvPath = Path.Combine(results, $"memory-{stamp}.csv");
        int threads = o.Int("threads");
        var spec = new CohortSpec($"memory-{stamp}-{kind.Name()}", kind, o.Int("students"), o["teacher-model"], o["student-model"], o["mode"],
            o["dataset"], o["data-path"], o.Int("batch-size"), o.Int("steps"), o.Int("epochs"), o.Int("test-limit"), threads, threads, threads);
        var run = new RunFiles(Path.Combine(results, "runs", spec.Name));
        output.WriteLine($"memory: {kind.Name()}, teacher {spec.TeacherModel} + {spec.Students} x {spec.StudentModel}, {spec.Dataset}, {spec.Epochs} epoch(s); sampling every {o["interval"]} s into {csvPath}");

        var samples = new List<(double Seconds, string Node, int Pid, long Step, double RssMiB)>();
        using (var csv = new StreamWriter(csvPath) { AutoFlush = true })
        {
            csv.WriteLine("seconds,node,pid,step,rss_mib");
            long step = 0;
            double lastStepRead = -1;
            var outcome = CohortRunner.Run(spec, results, TimeSpan.FromMinutes(o.Double("timeout-minutes")), output, o.Double("interval"), (t, node) =>
            {
                if (t != lastStepRead)
                {
                    step = StepsWritten(run, step);
                    lastStepRead = t;
                }
                if (node.ResidentKiB() is not { } kib) return;
                double rss = kib / 1024.0;
                samples.Add((t, node.Name, node.ProcessId, step, rss));
                csv.WriteLine(string.Create(inv, $"{t:F1},{node.Name},{node.ProcessId},{step},{rss:F1}"));
            });
            output.WriteLine(string.Create(inv, $"  run ended (exit {outcome.ExitCode}) after {outcome.WallSeconds:F0} s and {outcome.Steps.Count} steps; {samples.Count} samples"));
        }

        var report = Report(o, kind, samples, csvPath);
        var path = Path.Combine(results, $"memory-{stamp}.md");
        File.WriteAllText(path, report);
        output.WriteLine();
        output.WriteLine(report);
        output.WriteLine($"Written to {path}");
        return samples.Count > 0 ? 0 : 1;
    }

    /// <summary>The step the run has reached; the last one read while steps.jsonl cannot be read.</summary>
    private static long StepsWritten(RunFiles run, long last)
    {
        try
        {
            return run.StepsWritten();
        }
        catch (IOException)
        {
            return last;
        }
    }

    private static string Report(BenchOptions o, RunnerKind kind, IReadOnlyList<(double Seconds, string Node, int Pid, long Step, double RssMiB)> samples, string csvPath)
    {
        var inv = CultureInfo.InvariantCulture;
        long warmup = o.Int("warmup-steps");
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# Resident memory per node: {kind.Name()}, teacher {o["teacher-model"]} + {o["students"]} x {o["student-model"]}, {o["dataset"]}, batch {o["batch-size"]}");
        sb.AppendLine();
        sb.AppendLine(inv, $"- {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {CohortRunner.Machine()}");
        sb.AppendLine(inv, $"- VmRSS sampled every {o["interval"]} s: {csvPath}; drift fitted on samples from step {warmup} on");
        sb.AppendLine();
        sb.AppendLine("| node | samples | steps seen | RSS at start MiB | RSS at end MiB | peak MiB | drift MiB per 1000 steps |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var node in samples.GroupBy(s => s.Node))
        {
            var all = node.ToList();
            var late = all.Where(s => s.Step >= warmup).ToList();
            string drift = late.Select(s => s.Step).Distinct().Count() >= 2
                ? (1000 * StepStats.Fit(late.Select(s => (double)s.Step).ToList(), late.Select(s => s.RssMiB).ToList()).Slope).ToString("F2", inv)
                : "– (too few steps after the warm-up)";
            sb.AppendLine(inv, $"| {node.Key} | {all.Count} | {all[^1].Step} | {all[0].RssMiB:F0} | {all[^1].RssMiB:F0} | {all.Max(s => s.RssMiB):F0} | {drift} |");
        }
        return sb.ToString();
    }
}
