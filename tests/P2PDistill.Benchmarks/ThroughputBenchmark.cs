using System.Globalization;
using System.Text;
using P2PDistill.Benchmarks.Support;

namespace P2PDistill.Benchmarks;

/// <summary>
/// Teacher + N students trained the three ways with the same settings, one after the other on this machine: the
/// single-process cohort trainer, the embedded actor system, and the multi-process cluster on 127.0.0.1. Per runner:
/// images/s over the measured steps and the ratio to single-process, the median step, the slowest model's own forward +
/// backward, the overhead beyond the critical path (ms and share of the step) and the coordinator's bytes per step.
/// Then, in the same invocation and with the same settings, the same cohort trained by a PyTorch script of our own
/// (pytorch/cohort_throughput.py, Debian's python3-torch; issue 14): a reference row and each runner's "× PyTorch".
/// </summary>
public static class ThroughputBenchmark
{
    public static BenchOptions Options() => new BenchOptions()
        .Declare("runners", "single-process,embedded,multi-process", "runners to compare, in this order; RUNNER:classic or RUNNER:folded picks the step protocol (issue 14; default folded), RUNNER:aheadK the folded protocol with the teacher K steps ahead")
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
        .Declare("omp-wait-policy", "", "OMP_WAIT_POLICY of the embedded and multi-process runners' processes: passive or active (default: unset, libgomp's own; single-process always keeps it)")
        .Declare("pin", "none", "multi-process CPU affinity: none, or split (taskset: the teacher on the first teacher-threads cores, the students on the rest)")
        .Declare("test-limit", "1000", "test images of the final evaluation (outside the measured steps)")
        .Declare("results", Path.Combine("runs", "benchmarks"), "results folder (runs and reports)")
        .Declare("timeout-minutes", "60", "give up on a run after this long")
        .Declare("pytorch", "auto", $"PyTorch reference after the runners: auto (when python3 imports torch), on (fail without it: {PyTorchReference.InstallHint}) or off")
        .Declare("python", "", "interpreter of the PyTorch reference (default: the first of python3 on PATH and /usr/bin/python3 that imports torch)");

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

        // The PyTorch reference: settled before the runners, so that --pytorch on fails at once when it cannot run.
        var pytorchMode = o["pytorch"].Trim().ToLowerInvariant();
        if (pytorchMode is not ("auto" or "on" or "off")) throw new ArgumentException($"--pytorch must be auto, on or off (got '{o["pytorch"]}')");
        string? python = null;
        PyTorchOutcome? pytorch = null;
        var reference = ReferenceSpec(o, stamp, budget, teacher);
        if (pytorchMode != "off")
        {
            string? why = PyTorchReference.Unsupported(reference);
            if (why is null && !File.Exists(PyTorchReference.ScriptPath)) why = $"the script {PyTorchReference.ScriptPath} is missing (rebuild the benchmark project)";
            if (why is null)
            {
                (python, var detail) = PyTorchReference.Find(o["python"]);
                if (python is null) why = $"no python3 with torch ({detail}); install it with `{PyTorchReference.InstallHint}` (Debian 12: PyTorch 1.13)";
                else output.WriteLine($"pytorch reference: {python}, torch {detail}");
            }
            if (why is not null)
            {
                if (pytorchMode == "on")
                {
                    output.WriteLine($"error: --pytorch on: the PyTorch reference cannot run: {why}");
                    return 2;
                }
                pytorch = new PyTorchOutcome(null, null, $"not run: {why}", false);
                output.WriteLine($"pytorch reference: {pytorch.Note}");
            }
        }

        var outcomes = new List<(CohortOutcome Outcome, StepStats? Stats)>();
        foreach (var runner in o.Strings("runners"))
        {
            var (kind, protocol, lookahead) = ParseRunner(runner);
            var suffix = (protocol is null ? "" : "-" + protocol) + (lookahead is { } k ? $"-ahead{k}" : "");
            var spec = new CohortSpec($"throughput-{stamp}-{kind.Name()}{suffix}", kind, students, o["teacher-model"], o["student-model"], o["mode"],
                o["dataset"], o["data-path"], o.Int("batch-size"), o.Int("steps"), 1, o.Int("test-limit"),
                kind == RunnerKind.Embedded ? embedded : budget, teacher, o.Int("student-threads"))
            {
                Task = o["task"],
                ImageSize = o.Int("image-size") > 0 ? o.Int("image-size") : null,
                Channels = o.Int("channels") > 0 ? o.Int("channels") : null,
                ClassCount = o.Int("classes") > 0 ? o.Int("classes") : null,
                StepProtocol = protocol,
                TeacherLookahead = lookahead,
                OmpWaitPolicy = kind == RunnerKind.SingleProcess ? null : WaitPolicy(o), // the reference keeps libgomp's default
                Pin = Pin(o),
            };
            CohortOutcome outcome;
            try
            {
                outcome = CohortRunner.Run(spec, results, TimeSpan.FromMinutes(o.Double("timeout-minutes")), output);
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                output.WriteLine($"  {spec.Label}: failed: {CohortRunner.Brief(e.Message)}");
                outcome = new CohortOutcome(spec, Path.Combine(results, "runs", spec.Name), -1, 0, [], 0);
            }
            var stats = outcome.Steps.Count > 0 ? StepStats.Of(outcome.Steps, o.Int("warmup"), sequential: kind == RunnerKind.SingleProcess) : null;
            outcomes.Add((outcome, stats));
            output.WriteLine(stats is null
                ? $"  {spec.Label}: no steps recorded (exit {outcome.ExitCode})"
                : string.Create(inv, $"  {spec.Label}: {stats.ImagesPerSecond:F1} images/s, median step {stats.MedianStepMs:F1} ms, overhead {stats.MedianOverheadMs:F1} ms ({100 * stats.OverheadShare:F1} %), wall {outcome.WallSeconds:F0} s"));
        }

        if (python is not null)
        {
            var log = Path.Combine(results, "runs", reference.Name, "pytorch.log");
            output.WriteLine($"  {reference.Name}: PyTorch, 1 process, {reference.Threads} threads (all models in turn); log in {log}");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            pytorch = PyTorchReference.Run(python, PyTorchReference.Arguments(reference, o.Int("warmup"), o["data-path"]), log,
                TimeSpan.FromMinutes(o.Double("timeout-minutes")));
            output.WriteLine(pytorch.Figures is { } f
                ? string.Create(inv, $"  pytorch {f.ShortVersion}: {f.ImagesPerSecond:F1} images/s, median step {f.MedianStepMs:F1} ms, BLAS {f.Blas}, wall {clock.Elapsed.TotalSeconds:F0} s")
                : $"  pytorch: {pytorch.Note}");
        }

        var report = Report(o, machine, outcomes, pytorch);
        Directory.CreateDirectory(results);
        var path = Path.Combine(results, $"throughput-{stamp}.md");
        File.WriteAllText(path, report);
        output.WriteLine();
        output.WriteLine(report);
        output.WriteLine($"Written to {path}");
        return outcomes.All(x => x.Outcome.ExitCode == 0 && x.Stats is not null) && pytorch is not { Failed: true } ? 0 : 1;
    }

    private static string? WaitPolicy(BenchOptions o) => o["omp-wait-policy"].Trim().ToLowerInvariant() switch
    {
        "" or "default" => null,
        "passive" => "passive",
        "active" => "active",
        var other => throw new ArgumentException($"--omp-wait-policy must be passive or active (got '{other}')"),
    };

    private static string? Pin(BenchOptions o) => o["pin"].Trim().ToLowerInvariant() switch
    {
        "" or "none" => null,
        "split" => "split",
        var other => throw new ArgumentException($"--pin must be none or split (got '{other}')"),
    };

    /// <summary>A runner of --runners: its kind, and the step protocol after a colon (multi-process:classic; multi-process:ahead2 is folded with the teacher 2 steps ahead).</summary>
    private static (RunnerKind Kind, string? Protocol, int? Lookahead) ParseRunner(string text)
    {
        var parts = text.Split(':', 2, StringSplitOptions.TrimEntries);
        var protocol = parts.Length == 2 ? parts[1].ToLowerInvariant() : null;
        if (protocol is not null && protocol.StartsWith("ahead", StringComparison.Ordinal)
            && int.TryParse(protocol["ahead".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int k))
            return (RunnerKinds.Parse(parts[0]), "folded", k);
        if (protocol is not (null or "folded" or "classic"))
            throw new ArgumentException($"--runners: '{text}': after the colon comes folded, classic or aheadK (folded, the teacher K steps ahead)");
        return (RunnerKinds.Parse(parts[0]), protocol, null);
    }

    /// <summary>The single-process runner's settings, which the PyTorch reference mirrors (one process, the whole thread budget).</summary>
    private static CohortSpec ReferenceSpec(BenchOptions o, string stamp, int budget, int teacher) =>
        new($"throughput-{stamp}-pytorch", RunnerKind.SingleProcess, o.Int("students"), o["teacher-model"], o["student-model"], o["mode"],
            o["dataset"], o["data-path"], o.Int("batch-size"), o.Int("steps"), 1, o.Int("test-limit"), budget, teacher, o.Int("student-threads"))
        {
            Task = o["task"],
            ImageSize = o.Int("image-size") > 0 ? o.Int("image-size") : null,
            Channels = o.Int("channels") > 0 ? o.Int("channels") : null,
            ClassCount = o.Int("classes") > 0 ? o.Int("classes") : null,
        };

    private static string Report(BenchOptions o, string machine, IReadOnlyList<(CohortOutcome Outcome, StepStats? Stats)> outcomes, PyTorchOutcome? pytorch)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# Throughput ({o["task"]}): teacher {o["teacher-model"]} + {o["students"]} x {o["student-model"]}, {o["dataset"]}" +
            $"{(outcomes.Count > 0 ? $" {outcomes[0].Outcome.Spec.InputShape}" : "")}, batch {o["batch-size"]}, mode {o["mode"]}");
        sb.AppendLine();
        sb.AppendLine(inv, $"- {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {machine}");
        sb.AppendLine(inv, $"- {o["steps"]} steps per run, the first {o["warmup"]} (at most half) left out; thread budget {o["threads"]}");
        if (WaitPolicy(o) is { } policy) sb.AppendLine(inv, $"- OMP_WAIT_POLICY={policy.ToUpperInvariant()} in the embedded and multi-process runners' processes (single-process and the PyTorch reference keep libgomp's default)");
        sb.AppendLine("- images/s: images of the measured steps / their summed wall time (evaluation and start-up excluded); ratio: to single-process");
        sb.AppendLine("- critical path: the slowest model's own forward + backward (single-process: the sum of all models', which run in turn); " +
                      "overhead: step wall time − critical path (serialisation, round trips, target building, scheduling)");
        sb.AppendLine();
        var torch = pytorch?.Figures;
        if (torch is not null)
            sb.AppendLine(inv, $"- × PyTorch: images/s divided by the PyTorch reference's: the same cohort, settings, data and batch order trained by " +
                $"pytorch/cohort_throughput.py (PyTorch {torch.Version}, BLAS {torch.Blas}, {torch.Threads} threads, one loop as single-process)");
        sb.AppendLine();
        sb.AppendLine("| runner | threads | images/s | ratio | × PyTorch | median step ms | slowest model ms | sum of models ms | overhead ms | overhead share | coordinator bytes out / in per step |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        double? baseline = outcomes.FirstOrDefault(x => x.Outcome.Spec.Kind == RunnerKind.SingleProcess).Stats?.ImagesPerSecond;
        string Times(double imagesPerSecond) => torch is { ImagesPerSecond: > 0 } ? (imagesPerSecond / torch.ImagesPerSecond).ToString("F2", inv) : "–";
        foreach (var (outcome, s) in outcomes)
        {
            if (s is null)
            {
                sb.AppendLine(inv, $"| {outcome.Spec.Label} | {outcome.Spec.ThreadsText} | failed (exit {outcome.ExitCode}, see {outcome.RunDirectory}/logs) | | | | | | | | |");
                continue;
            }
            string ratio = baseline is > 0 ? (s.ImagesPerSecond / baseline.Value).ToString("F2", inv) : "–";
            sb.AppendLine(inv,
                $"| {outcome.Spec.Label} | {outcome.Spec.ThreadsText} | {s.ImagesPerSecond:F1} | {ratio} | {Times(s.ImagesPerSecond)} | {s.MedianStepMs:F1} | {s.MedianSlowestMs:F1} | {s.MedianSumComputeMs:F1} | {s.MedianOverheadMs:F1} | {100 * s.OverheadShare:F1} % | {s.MedianBytesSent:N0} / {s.MedianBytesReceived:N0} |");
        }
        if (torch is not null)
        {
            string ratio = baseline is > 0 ? (torch.ImagesPerSecond / baseline.Value).ToString("F2", inv) : "–";
            sb.AppendLine(inv,
                $"| pytorch {torch.ShortVersion} (reference) | {torch.Threads} (all models in turn) | {torch.ImagesPerSecond:F1} | {ratio} | 1.00 | {torch.MedianStepMs:F1} | {torch.MedianSlowestMs:F1} | {torch.MedianSumComputeMs:F1} | {torch.MedianOverheadMs:F1} | {100 * torch.MedianOverheadMs / torch.MedianStepMs:F1} % | – |");
        }
        else if (pytorch is { Failed: true })
            sb.AppendLine(inv, $"| pytorch (reference) | – | failed, see {pytorch.LogPath} | | | | | | | | |");
        sb.AppendLine();
        sb.AppendLine("Median compute per model (ms, in cohort order teacher, student-1, ...):");
        sb.AppendLine();
        foreach (var (outcome, s) in outcomes.Where(x => x.Stats is not null))
            sb.AppendLine(inv, $"- {outcome.Spec.Label}: {string.Join(", ", s!.MedianComputePerModel.Select(v => v.ToString("F1", inv)))}");
        if (torch is not null)
            sb.AppendLine(inv, $"- pytorch {torch.ShortVersion}: {string.Join(", ", torch.MedianComputePerModel.Select(v => v.ToString("F1", inv)))}");
        var multi = outcomes.FirstOrDefault(x => x.Outcome.Spec.Kind == RunnerKind.MultiProcess).Stats;
        if (multi is not null && baseline is > 0)
        {
            sb.AppendLine();
            sb.AppendLine(inv, $"Targets (DESIGN.md §11): multi-process not slower than single-process: {(multi.ImagesPerSecond >= baseline ? "met" : "not met")} " +
                               $"({multi.ImagesPerSecond / baseline.Value:F2}x); coordination <= 5 % of the step: {(multi.OverheadShare <= 0.05 ? "met" : "not met")} ({100 * multi.OverheadShare:F1} %).");
        }
        if (torch is not null)
        {
            var measured = outcomes.Where(x => x.Stats is not null).Select(x => (Name: x.Outcome.Spec.Label, Times: x.Stats!.ImagesPerSecond / torch.ImagesPerSecond)).ToList();
            sb.AppendLine();
            sb.AppendLine(inv, $"Target (issue 14): every runner at least 1.5x the PyTorch reference: {(measured.Count == outcomes.Count && measured.All(m => m.Times >= 1.5) ? "met" : "not met")} " +
                               $"({string.Join(", ", measured.Select(m => $"{m.Name} {m.Times.ToString("F2", inv)}x{(m.Times >= 1.5 ? "" : " (below)")}"))}).");
            sb.AppendLine();
            sb.AppendLine(inv, $"PyTorch mirror: parameters {string.Join(", ", torch.Parameters.Distinct().Select(p => p.ToString("N0", inv)))} (teacher, student), " +
                               $"checked equal to the C# networks'; interpreter {pytorch!.Python}; log {pytorch.LogPath}.");
            if (torch.Blas.Contains("netlib", StringComparison.OrdinalIgnoreCase))
                sb.AppendLine("Note: PyTorch ran on the netlib reference BLAS (Debian's default libblas.so.3), which makes its linear layers several times " +
                                   "slower than OpenBLAS; `apt-get install libopenblas0` (or LD_LIBRARY_PATH pointing at an OpenBLAS libblas.so.3) gives the stronger reference.");
            var single = outcomes.FirstOrDefault(x => x.Outcome.Spec.Kind == RunnerKind.SingleProcess && x.Stats is not null).Outcome;
            if (single is not null && torch.FirstStep.Count > 0 && FirstStep(single.RunDirectory) is { Count: > 0 } csharp)
                sb.AppendLine("First-step losses (total; the same batch, weights drawn the same way), C# single-process / PyTorch: " +
                    string.Join(", ", csharp.Zip(torch.FirstStep).Select(p => string.Create(inv, $"{p.First.Model} {p.First.Loss:F5} / {p.Second.Loss:F5}"))) + ".");
        }
        else if (pytorch is not null)
        {
            sb.AppendLine();
            sb.AppendLine(inv, $"PyTorch reference {pytorch.Note}");
        }
        sb.AppendLine();
        sb.AppendLine("Run directories: " + string.Join(", ", outcomes.Select(x => x.Outcome.RunDirectory)));
        return sb.ToString();
    }

    /// <summary>Every model's loss at the run's first step, from its steps.jsonl (empty when unreadable).</summary>
    private static IReadOnlyList<(string Model, double Loss)> FirstStep(string runDirectory)
    {
        try
        {
            var first = new RunFiles(runDirectory).StepLog().FirstOrDefault();
            return first is null ? [] : first.Models.Select(m => (m.Model, m.Loss)).ToList();
        }
        catch (Exception e) when (e is IOException or FormatException or System.Text.Json.JsonException or InvalidOperationException)
        {
            return [];
        }
    }
}
