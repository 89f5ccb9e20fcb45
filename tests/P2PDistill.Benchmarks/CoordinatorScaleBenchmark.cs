using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using P2PDistill.Benchmarks.Support;
using P2PDistill.Shared.Models;

namespace P2PDistill.Benchmarks;

/// <summary>
/// Issue 14, item 6: the coordinator's own cost against the number of students. A real coordinator process, a teacher
/// process and N students spread over a few processes (<see cref="ModelHost"/>), every network the compute-free
/// <c>constant</c> model, so a step is pure coordination. For each N: the median step wall time (the coordinator's
/// latency), the coordinator process's own CPU time per step (utime + stime from /proc, read between the end of the
/// warm-up and the last step, less its idle rate measured with the whole cluster up before training), bytes per step;
/// then least-squares lines against N whose slopes are the cost of one more student.
/// </summary>
public static class CoordinatorScaleBenchmark
{
    public static BenchOptions Options() => new BenchOptions()
        .Declare("students", "1,2,4,8,16,32,64,128", "cohort sizes to run")
        .Declare("processes", "4", "student processes at most (the N students are spread evenly over min(N, this))")
        .Declare("steps", "200", "training steps per run")
        .Declare("warmup", "30", "first steps left out of the figures")
        .Declare("batch-size", "128", "images per step")
        .Declare("classes", "10", "classes of the synthetic set (10: Fashion-MNIST's)")
        .Declare("image-size", "28", "side of the synthetic images (one channel)")
        .Declare("mode", "kd-ml", "independent, kd, ml or kd-ml")
        .Declare("data-mode", "ship", "ship (the coordinator sends every batch to every model) or local (each model actor builds it)")
        .Declare("settle-seconds", "10", "wait after every student is ready before measuring the idle CPU (start-up JIT and GC settle)")
        .Declare("idle-seconds", "10", "how long the coordinator's idle CPU is measured (trimmed mean of 1 s samples) with every student ready, before the teacher starts")
        .Declare("results", Path.Combine("runs", "benchmarks"), "results folder (runs and reports)")
        .Declare("timeout-minutes", "15", "give up on one N after this long")
        .Declare("host-students", "0", "internal: run as a student process with this many model actors (the benchmark starts these itself)")
        .Declare("seed-nodes", "", "internal: the coordinator's address, for --host-students");

    public static int Run(BenchOptions o, TextWriter output)
    {
        var shape = new ModelSpec(1, o.Int("image-size"), o.Int("image-size"), o.Int("classes"));
        if (o.Int("host-students") > 0)
            return ModelHost.Run(o.Int("host-students"), "constant", shape, o["seed-nodes"], TimeSpan.FromMinutes(3), output);

        var inv = CultureInfo.InvariantCulture;
        var results = Path.GetFullPath(o["results"]);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", inv);
        var machine = CohortRunner.Machine();
        output.WriteLine($"coordinator-scale: teacher + N x constant, N = {o["students"]} over at most {o["processes"]} student processes, " +
                         $"synthetic {shape}, batch {o["batch-size"]}, {o["mode"]}, data {o["data-mode"]}, {o["steps"]} steps");
        output.WriteLine($"machine: {machine}");

        var rows = new List<ScaleRow>();
        foreach (var n in o.Ints("students"))
        {
            ScaleRow row;
            try
            {
                row = RunOne(o, n, shape, stamp, results, output);
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                output.WriteLine($"  N = {n}: failed: {CohortRunner.Brief(e.Message)}");
                row = ScaleRow.Failed(n, e.Message);
            }
            rows.Add(row);
            if (row.Ok)
                output.WriteLine(string.Create(inv,
                    $"  N = {n}: median step {row.MedianStepMs:F2} ms, coordinator CPU {row.CpuMsPerStep:F2} ms/step ({row.WorkMsPerStep:F2} less idle; " +
                    $"{row.WorkMsPerStep / n:F3} per student), bytes out/in {row.BytesSent:N0} / {row.BytesReceived:N0}"));
        }

        var report = Report(o, shape, machine, rows);
        Directory.CreateDirectory(results);
        var path = Path.Combine(results, $"coordinator-scale-{stamp}.md");
        File.WriteAllText(path, report);
        var csv = Path.Combine(results, $"coordinator-scale-{stamp}.csv");
        File.WriteAllLines(csv, new[]
            {
                "students,processes,steps_measured,median_step_ms,p90_step_ms,median_coordination_ms,median_slowest_model_ms,bytes_sent,bytes_received," +
                "coordinator_cpu_ms_per_step,coordinator_idle_ms_per_s,coordinator_work_ms_per_step,work_ms_per_student,peers_cpu_ms_per_step",
            }
            .Concat(rows.Where(r => r.Ok).Select(r => string.Create(inv,
                $"{r.N},{r.Processes},{r.Steps},{r.MedianStepMs:F3},{r.P90StepMs:F3},{r.MedianCoordinationMs:F3},{r.MedianSlowestMs:F3},{r.BytesSent:F0},{r.BytesReceived:F0}," +
                $"{r.CpuMsPerStep:F4},{r.IdleMsPerSecond:F3},{r.WorkMsPerStep:F4},{r.WorkMsPerStep / r.N:F5},{r.PeersCpuMsPerStep:F3}"))));
        output.WriteLine();
        output.WriteLine(report);
        output.WriteLine($"Written to {path} and {csv}");
        return rows.All(r => r.Ok) ? 0 : 1;
    }

    /// <summary>What one N gave.</summary>
    private sealed record ScaleRow(
        int N, int Processes, int Steps, double MedianStepMs, double P90StepMs, double MedianCoordinationMs, double MedianSlowestMs,
        double BytesSent, double BytesReceived, double CpuMsPerStep, double IdleMsPerSecond, double WorkMsPerStep, double PeersCpuMsPerStep,
        string? Problem = null)
    {
        public bool Ok => Problem is null;

        public static ScaleRow Failed(int n, string why) => new(n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, why);
    }

    /// <summary>A moment of the run: steps written so far, and the CPU seconds of the coordinator and of every peer process.</summary>
    private readonly record struct Sample(int Steps, double Wall, double CoordinatorCpu, double PeersCpu);

    private static ScaleRow RunOne(BenchOptions o, int n, ModelSpec shape, string stamp, string results, TextWriter output)
    {
        int steps = o.Int("steps"), batch = o.Int("batch-size");
        int warmup = Math.Min(o.Int("warmup"), steps / 2);
        var timeout = TimeSpan.FromMinutes(o.Double("timeout-minutes"));
        var runs = Path.Combine(results, "runs");
        var name = $"coordinator-scale-{stamp}-{o["data-mode"]}-n{n}";
        var runDirectory = Path.Combine(runs, name);
        if (Directory.Exists(runDirectory)) Directory.Delete(runDirectory, recursive: true);
        var logs = Path.Combine(runDirectory, "logs");
        var inputShape = $"{shape.Channels}x{shape.Height}x{shape.Width}";
        var clock = Stopwatch.StartNew();
        var deadline = clock.Elapsed + timeout;
        void Check(string what)
        {
            if (clock.Elapsed > deadline) throw new TimeoutException($"{name}: {what} did not happen within {timeout}");
        }

        // Every process is killed (with its tree) when the cluster is disposed, whatever happens.
        using var cluster = new ProcessCluster(logs) { LogDirectory = logs, Environment = new Dictionary<string, string> { ["NO_COLOR"] = "1" }, MessageLines = 40 };
        var coordinatorArgs = cluster.Coordinator()
            .Synthetic(train: Math.Max(2048, steps * batch), test: 256, classes: shape.NumClasses)
            .Config("Data:SyntheticSize", shape.Height).Config("Data:SyntheticChannels", shape.Channels)
            .Models("constant", "constant").Mode(o["mode"]).BatchSize(batch).MaxSteps(steps).Epochs(1).TestLimit(256)
            .DataMode(o["data-mode"]).MinStudents(n).Output(runs, name);
        var coordinator = cluster.Start("coordinator", coordinatorArgs);
        coordinator.WaitFor("Waiting for a teacher", TimeSpan.FromMinutes(3));

        int processes = Math.Max(1, Math.Min(n, o.Int("processes")));
        var host = NodeArgs.ExecutablePath("p2pdistill-benchmarks.dll");
        for (int p = 0; p < processes; p++)
        {
            int k = n / processes + (p < n % processes ? 1 : 0);
            cluster.Start($"students-{p + 1}", Command.Of("dotnet", host, "coordinator-scale", "--host-students", k.ToString(CultureInfo.InvariantCulture),
                "--seed-nodes", cluster.Seed, "--classes", shape.NumClasses.ToString(CultureInfo.InvariantCulture),
                "--image-size", shape.Height.ToString(CultureInfo.InvariantCulture)));
        }
        // Every student registered and ready; the coordinator waits for the teacher. Its idle CPU now, with the whole
        // cluster up (heartbeats, gossip, timers), is the background it pays whatever it coordinates.
        var ready = new Regex(@"student-\d+ is ready \(", RegexOptions.Compiled);
        coordinator.WaitFor(text => ready.Matches(text).Count >= n, $"report {n} students ready", Remaining());
        Thread.Sleep(TimeSpan.FromSeconds(o.Double("settle-seconds")));
        int pid = coordinator.ProcessId;
        // 1 s samples, the highest and lowest fifth left out: a periodic burst (the cluster summary, a GC) is not the idle rate.
        var idleRates = new List<double>();
        for (int i = 0; i < Math.Max(1, o.Int("idle-seconds")); i++)
        {
            double before = CpuOf(pid), at = clock.Elapsed.TotalSeconds;
            Thread.Sleep(1000);
            idleRates.Add(1000 * (CpuOf(pid) - before) / (clock.Elapsed.TotalSeconds - at));
        }
        var sorted = idleRates.Order().ToList();
        int cut = sorted.Count / 5; // a trimmed mean: /proc counts 10 ms ticks, so one 1 s sample is coarse
        double idleMsPerSecond = sorted.Skip(cut).Take(sorted.Count - 2 * cut).Average();

        cluster.Start("teacher", cluster.Peer("teacher").Model("constant").Classes(shape.NumClasses).InputShape(inputShape).Threads(1));
        output.WriteLine($"  {name}: coordinator + teacher + {n} students in {processes} process(es); logs in {logs}");

        // Sample the steps written and the CPU times until the coordinator ends.
        var counter = new StepCounter(Path.Combine(runDirectory, "metrics", "steps.jsonl"));
        var samples = new List<Sample>();
        while (!coordinator.HasExited)
        {
            Check("the end of the run");
            int written = counter.Poll();
            if (written > warmup && written < steps)
                samples.Add(new Sample(written, clock.Elapsed.TotalSeconds, CpuOf(pid), PeersCpu(cluster, coordinator)));
            Thread.Sleep(25);
        }
        int exit = coordinator.WaitForExit(TimeSpan.FromSeconds(30));
        foreach (var peer in cluster.Nodes.Where(p => p != coordinator))
        {
            var until = Stopwatch.StartNew();
            while (!peer.HasExited && until.Elapsed < TimeSpan.FromSeconds(20)) Thread.Sleep(100);
            peer.Stop(TimeSpan.FromSeconds(10));
        }
        if (exit != 0) throw new InvalidOperationException($"{name}: coordinator exited {exit}; last lines:\n{coordinator.Tail(15)}");

        var all = new RunFiles(runDirectory).StepLog().Select(StepSample.Of).ToList();
        var stats = StepStats.Of(all, warmup, sequential: false);
        var measured = all.Skip(stats.Skipped).Select(s => s.StepMs).Order().ToArray();
        if (samples.Count < 2 || samples[^1].Steps - samples[0].Steps < 2)
            throw new InvalidOperationException($"{name}: too few CPU samples between step {warmup} and step {steps} ({samples.Count}); run more --steps");
        // Between two samples: whole steps done, CPU used and wall time; partial steps at both ends cancel on average.
        var (a, b) = (samples[0], samples[^1]);
        double stepsBetween = b.Steps - a.Steps;
        double cpuMs = 1000 * (b.CoordinatorCpu - a.CoordinatorCpu) / stepsBetween;
        double workMs = (1000 * (b.CoordinatorCpu - a.CoordinatorCpu) - idleMsPerSecond * (b.Wall - a.Wall)) / stepsBetween;
        double peersMs = 1000 * (b.PeersCpu - a.PeersCpu) / stepsBetween;
        return new ScaleRow(n, cluster.Nodes.Count, stats.Steps, stats.MedianStepMs, measured[(int)Math.Min(measured.Length - 1, Math.Ceiling(0.9 * measured.Length) - 1)],
            stats.MedianCoordinationMs, stats.MedianSlowestMs, stats.MedianBytesSent, stats.MedianBytesReceived, cpuMs, idleMsPerSecond, workMs, peersMs);

        TimeSpan Remaining() => deadline - clock.Elapsed is { } left && left > TimeSpan.Zero ? left : TimeSpan.FromSeconds(1);
    }

    private static double CpuOf(int pid) => ProcessCpu.Seconds(pid) ?? throw new InvalidOperationException($"process {pid} has gone");

    private static double PeersCpu(ProcessCluster cluster, RunningProcess coordinator) =>
        cluster.Nodes.Where(p => p != coordinator).Sum(p => ProcessCpu.Seconds(p.ProcessId) ?? 0);

    /// <summary>Lines of a growing file, counted as they are appended (the file is read once, not at every poll).</summary>
    private sealed class StepCounter(string path)
    {
        private readonly byte[] buffer = new byte[1 << 16];
        private FileStream? stream;
        private int lines;

        public int Poll()
        {
            if (stream is null)
            {
                if (!File.Exists(path)) return 0;
                stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            for (int read; (read = stream.Read(buffer, 0, buffer.Length)) > 0;) lines += buffer.AsSpan(0, read).Count((byte)'\n');
            return lines;
        }
    }

    private static string Report(BenchOptions o, ModelSpec shape, string machine, IReadOnlyList<ScaleRow> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# The coordinator's own scale: teacher + N x constant, synthetic {shape.Channels}x{shape.Height}x{shape.Width} ({shape.NumClasses} classes), batch {o["batch-size"]}, {o["mode"]}, data mode {o["data-mode"]}");
        sb.AppendLine();
        sb.AppendLine(inv, $"- {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {machine}");
        sb.AppendLine(inv, $"- {o["steps"]} steps per N, the first {o["warmup"]} left out; processes: coordinator + teacher + min(N, {o["processes"]}) student processes on 127.0.0.1");
        sb.AppendLine("- step: the coordinator's step wall time (all compute-free: coordination only); CPU: the coordinator process's utime + stime per step " +
                      "(/proc), and that less its idle rate (measured with every student ready, before the teacher started) x step time; " +
                      "peers' CPU: the teacher and student processes together; bytes: step messages the coordinator sent / received per step");
        sb.AppendLine();
        sb.AppendLine("| N students | processes | median step ms | p90 step ms | coordinator CPU ms / step | idle ms / s | CPU less idle ms / step | per student ms | peers' CPU ms / step | bytes out / step | bytes in / step |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            if (!r.Ok)
            {
                sb.AppendLine(inv, $"| {r.N} | failed: {CohortRunner.Brief(r.Problem!.Split('\n')[0])} | | | | | | | | | |");
                continue;
            }
            sb.AppendLine(inv, $"| {r.N} | {r.Processes} | {r.MedianStepMs:F2} | {r.P90StepMs:F2} | {r.CpuMsPerStep:F2} | {r.IdleMsPerSecond:F1} | {r.WorkMsPerStep:F2} | {r.WorkMsPerStep / r.N:F3} | {r.PeersCpuMsPerStep:F1} | {r.BytesSent:N0} | {r.BytesReceived:N0} |");
        }
        var ok = rows.Where(r => r.Ok).ToList();
        if (ok.Count >= 2)
        {
            var x = ok.Select(r => (double)r.N).ToList();
            sb.AppendLine();
            sb.AppendLine("Least-squares lines against N (slope = the cost of one more student; R² near 1 = linear); max residual = the largest |measured − line| as a share of the line:");
            sb.AppendLine();
            foreach (var (label, unit, pick) in new (string, string, Func<ScaleRow, double>)[]
                     {
                         ("coordinator CPU less idle", "ms", r => r.WorkMsPerStep), ("coordinator CPU", "ms", r => r.CpuMsPerStep),
                         ("step (latency)", "ms", r => r.MedianStepMs), ("peers' CPU", "ms", r => r.PeersCpuMsPerStep),
                         ("bytes out", "B", r => r.BytesSent), ("bytes in", "B", r => r.BytesReceived),
                     })
            {
                var y = ok.Select(pick).ToList();
                var (a, b) = StepStats.Fit(x, y);
                double worst = x.Select((v, i) => Math.Abs(y[i] - (a + b * v)) / Math.Max(Math.Abs(a + b * v), 1e-9)).Max();
                sb.AppendLine(inv, $"- {label}: {b:N4} {unit} per student {(a < 0 ? "−" : "+")} {Math.Abs(a):N3} {unit} (R² {StepStats.RSquared(x, y, a, b):F4}; max residual {worst:P0})");
            }
        }
        return sb.ToString();
    }
}
