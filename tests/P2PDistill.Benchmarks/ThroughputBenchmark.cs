using System.Globalization;
using System.Text;
using P2PDistill.Benchmarks.Support;

namespace P2PDistill.Benchmarks;

/// <summary>
/// Teacher + N students trained the three ways with the same settings, one after the other on this machine: the
/// single-process cohort trainer, the embedded actor system, and the multi-process cluster on 127.0.0.1. Per runner:
/// images/s over the measured steps and the ratio to single-process, the median step, the slowest model's own forward +
/// backward, the overhead beyond the critical path (ms and share of the step) and the coordinator's bytes per step.
/// </summary>
public static class ThroughputBenchmark
{
    public static BenchOptions Options() => new BenchOptions()
        .Declare("runners", "single-process,embedded,multi-process", "runners to compare, in this order")
        .Declare("task", "classification", "classification or detection (then use --dataset synthetic-detection and det-* models)")
        .Declare("dataset", "fashion-mnist", "fashion-mnist, mnist, synthetic or synthetic-detection")
        .Declare("image-size", "0", "synthetic sets: image side (0: the dataset's default)")
        .Declare("channels", "0", "synthetic sets: channels (0: the dataset's default)")
        .Declare("classes", "0", "synthetic sets: classes (0: the dataset's default)")
        .Declare("data-path", "", "directory of the IDX files")
        .Declare("steps", "200", "training steps per run (--max-steps; one epoch)")
        .Declare("warmup", "10", "first steps left out of the figures")
        .Declare("batch-size", "128", "images per step")
        .Declare("students", "2", "students in the cohort")
        .Declare("mode", "kd-ml", "independent, kd, ml or kd-ml")
        .Declare("teacher-model", "cnn-teacher", "teacher architecture")
        .Declare("student-model", "cnn-student", "student architecture")
        .Declare("threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), "thread budget: single-process uses it all")
        .Declare("embedded-threads", "0", "threads per model actor in embedded mode (0: budget / models, at least 1)")
        .Declare("teacher-threads", "0", "multi-process: teacher threads (0: budget - students, at least 1)")
        .Declare("student-threads", "1", "multi-process: threads of each student")
        .Declare("test-limit", "1000", "test images of the final evaluation (outside the measured steps)")
        .Declare("results", Path.Combine("runs", "benchmarks"), "results folder (runs and reports)")
        .Declare("timeout-minutes", "60", "give up on a run after this long");

    public static int Run(BenchOptions o, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        int budget = o.Int("threads"), students = o.Int("students");
        int embedded = o.Int("embedded-threads") > 0 ? o.Int("embedded-threads") : Math.Max(1, budget / (students + 1));
        int teacher = o.Int("teacher-threads") > 0 ? o.Int("teacher-threads") : Math.Max(1, budget - students * o.Int("student-threads"));
        var results = Path.GetFullPath(o["results"]);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", inv);
        var machine = CohortRunner.Machine();
        output.WriteLine($"throughput: {o["task"]}, teacher {o["teacher-model"]} + {students} x {o["student-model"]}, {o["dataset"]}, batch {o["batch-size"]}, {o["steps"]} steps, mode {o["mode"]}");
        output.WriteLine($"machine: {machine}");

        var outcomes = new List<(CohortOutcome Outcome, StepStats? Stats)>();
        foreach (var kind in o.Strings("runners").Select(RunnerKinds.Parse))
        {
            var spec = new CohortSpec($"throughput-{stamp}-{kind.Name()}", kind, students, o["teacher-model"], o["student-model"], o["mode"],
                o["dataset"], o["data-path"], o.Int("batch-size"), o.Int("steps"), 1, o.Int("test-limit"),
                kind == RunnerKind.Embedded ? embedded : budget, teacher, o.Int("student-threads"))
            {
                Task = o["task"],
                ImageSize = o.Int("image-size") > 0 ? o.Int("image-size") : null,
                Channels = o.Int("channels") > 0 ? o.Int("channels") : null,
                ClassCount = o.Int("classes") > 0 ? o.Int("classes") : null,
            };
            CohortOutcome outcome;
            try
            {
                outcome = CohortRunner.Run(spec, results, TimeSpan.FromMinutes(o.Double("timeout-minutes")), output);
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                output.WriteLine($"  {kind.Name()}: failed: {CohortRunner.Brief(e.Message)}");
                outcome = new CohortOutcome(spec, Path.Combine(results, "runs", spec.Name), -1, 0, [], 0);
            }
            var stats = outcome.Steps.Count > 0 ? StepStats.Of(outcome.Steps, o.Int("warmup"), sequential: kind == RunnerKind.SingleProcess) : null;
            outcomes.Add((outcome, stats));
            output.WriteLine(stats is null
                ? $"  {kind.Name()}: no steps recorded (exit {outcome.ExitCode})"
                : string.Create(inv, $"  {kind.Name()}: {stats.ImagesPerSecond:F1} images/s, median step {stats.MedianStepMs:F1} ms, overhead {stats.MedianOverheadMs:F1} ms ({100 * stats.OverheadShare:F1} %), wall {outcome.WallSeconds:F0} s"));
        }

        var report = Report(o, machine, outcomes);
        Directory.CreateDirectory(results);
        var path = Path.Combine(results, $"throughput-{stamp}.md");
        File.WriteAllText(path, report);
        output.WriteLine();
        output.WriteLine(report);
        output.WriteLine($"Written to {path}");
        return outcomes.All(x => x.Outcome.ExitCode == 0 && x.Stats is not null) ? 0 : 1;
    }

    private static string Report(BenchOptions o, string machine, IReadOnlyList<(CohortOutcome Outcome, StepStats? Stats)> outcomes)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# Throughput ({o["task"]}): teacher {o["teacher-model"]} + {o["students"]} x {o["student-model"]}, {o["dataset"]}" +
            $"{(outcomes.Count > 0 ? $" {outcomes[0].Outcome.Spec.InputShape}" : "")}, batch {o["batch-size"]}, mode {o["mode"]}");
        sb.AppendLine();
        sb.AppendLine(inv, $"- {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {machine}");
        sb.AppendLine(inv, $"- {o["steps"]} steps per run, the first {o["warmup"]} (at most half) left out; thread budget {o["threads"]}");
        sb.AppendLine("- images/s: images of the measured steps / their summed wall time (evaluation and start-up excluded); ratio: to single-process");
        sb.AppendLine("- critical path: the slowest model's own forward + backward (single-process: the sum of all models', which run in turn); " +
                      "overhead: step wall time − critical path (serialisation, round trips, target building, scheduling)");
        sb.AppendLine();
        sb.AppendLine("| runner | threads | images/s | ratio | median step ms | slowest model ms | sum of models ms | overhead ms | overhead share | coordinator bytes out / in per step |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        double? baseline = outcomes.FirstOrDefault(x => x.Outcome.Spec.Kind == RunnerKind.SingleProcess).Stats?.ImagesPerSecond;
        foreach (var (outcome, s) in outcomes)
        {
            if (s is null)
            {
                sb.AppendLine(inv, $"| {outcome.Spec.Kind.Name()} | {outcome.Spec.ThreadsText} | failed (exit {outcome.ExitCode}, see {outcome.RunDirectory}/logs) | | | | | | | |");
                continue;
            }
            string ratio = baseline is > 0 ? (s.ImagesPerSecond / baseline.Value).ToString("F2", inv) : "–";
            sb.AppendLine(inv,
                $"| {outcome.Spec.Kind.Name()} | {outcome.Spec.ThreadsText} | {s.ImagesPerSecond:F1} | {ratio} | {s.MedianStepMs:F1} | {s.MedianSlowestMs:F1} | {s.MedianSumComputeMs:F1} | {s.MedianOverheadMs:F1} | {100 * s.OverheadShare:F1} % | {s.MedianBytesSent:N0} / {s.MedianBytesReceived:N0} |");
        }
        sb.AppendLine();
        sb.AppendLine("Median compute per model (ms, in cohort order teacher, student-1, ...):");
        sb.AppendLine();
        foreach (var (outcome, s) in outcomes.Where(x => x.Stats is not null))
            sb.AppendLine(inv, $"- {outcome.Spec.Kind.Name()}: {string.Join(", ", s!.MedianComputePerModel.Select(v => v.ToString("F1", inv)))}");
        var multi = outcomes.FirstOrDefault(x => x.Outcome.Spec.Kind == RunnerKind.MultiProcess).Stats;
        if (multi is not null && baseline is > 0)
        {
            sb.AppendLine();
            sb.AppendLine(inv, $"Targets (DESIGN.md §11): multi-process not slower than single-process: {(multi.ImagesPerSecond >= baseline ? "met" : "not met")} " +
                               $"({multi.ImagesPerSecond / baseline.Value:F2}x); coordination <= 5 % of the step: {(multi.OverheadShare <= 0.05 ? "met" : "not met")} ({100 * multi.OverheadShare:F1} %).");
        }
        sb.AppendLine();
        sb.AppendLine("Run directories: " + string.Join(", ", outcomes.Select(x => x.Outcome.RunDirectory)));
        return sb.ToString();
    }
}
