using System.Diagnostics;

namespace P2PDistill.Benchmarks.Support;

public enum RunnerKind { SingleProcess, Embedded, MultiProcess }

public static class RunnerKinds
{
    public static RunnerKind Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "single-process" or "single" => RunnerKind.SingleProcess,
        "embedded" => RunnerKind.Embedded,
        "multi-process" or "multi" or "cluster" => RunnerKind.MultiProcess,
        _ => throw new ArgumentException($"unknown runner '{text}': use single-process, embedded or multi-process"),
    };

    public static string Name(this RunnerKind kind) => kind switch
    {
        RunnerKind.SingleProcess => "single-process",
        RunnerKind.Embedded => "embedded",
        _ => "multi-process",
    };
}

/// <summary>One training run to benchmark: the cohort, the data, the runner and how its threads are shared out.</summary>
public sealed record CohortSpec(
    string Name, RunnerKind Kind, int Students, string TeacherModel, string StudentModel, string Mode,
    string Dataset, string? DataPath, int BatchSize, int MaxSteps, int Epochs, int TestLimit,
    int Threads, int TeacherThreads, int StudentThreads)
{
    /// <summary>classification (default) or detection.</summary>
    public string Task { get; init; } = "classification";

    /// <summary>Side of the synthetic images (classification's synthetic set and the detection sets); null: the dataset's default.</summary>
    public int? ImageSize { get; init; }

    /// <summary>Channels of the synthetic images; null: the dataset's default.</summary>
    public int? Channels { get; init; }

    /// <summary>Classes of the synthetic set; null: its default (4; 2 for synthetic detection).</summary>
    public int? ClassCount { get; init; }

    /// <summary>The coordinator's --step-protocol (folded or classic; issue 14); null: its default (folded).</summary>
    public string? StepProtocol { get; init; }

    /// <summary>OpenMP's wait policy for every process of the run (OMP_WAIT_POLICY: passive or active); null: libgomp's default (spin a while, then sleep).</summary>
    public string? OmpWaitPolicy { get; init; }

    /// <summary>
    /// Multi-process: CPU affinity of the nodes (<c>taskset -c</c>). <c>split</c>: the teacher on the first
    /// <see cref="TeacherThreads"/> cores, the students on the cores after them (the last core when the teacher takes them all);
    /// null: no pinning.
    /// </summary>
    public string? Pin { get; init; }

    /// <summary>The cores (taskset's list) a multi-process node is pinned to under <see cref="Pin"/>; null: not pinned.</summary>
    public string? CoresOf(string role)
    {
        if (Pin != "split") return null;
        int cores = Environment.ProcessorCount, teacher = Math.Clamp(TeacherThreads, 1, cores);
        if (role == "teacher") return teacher == 1 ? "0" : $"0-{teacher - 1}";
        return teacher >= cores ? $"{cores - 1}" : teacher == cores - 1 ? $"{teacher}" : $"{teacher}-{cores - 1}";
    }

    /// <summary>The coordinator's --teacher-lookahead (folded protocol; issue 14); null: its default.</summary>
    public int? TeacherLookahead { get; init; }

    /// <summary>The runner's name in reports, with its step protocol (and the teacher's run-ahead) when one was asked.</summary>
    public string Label => StepProtocol is null || Kind == RunnerKind.SingleProcess
        ? Kind.Name()
        : TeacherLookahead is { } k ? $"{Kind.Name()} ({StepProtocol}, teacher {k} ahead)" : $"{Kind.Name()} ({StepProtocol})";

    private bool IsDetection => Task is "detection" or "det";

    public int Classes => ClassCount ?? (IsDetection ? 2 : Dataset == "synthetic" ? 4 : 10);

    public string InputShape => ImageSize is { } size
        ? $"{Channels ?? (IsDetection ? 3 : 1)}x{size}x{size}"
        : IsDetection ? "3x64x64" : "1x28x28";

    /// <summary>How the intra-op threads are shared out, in words.</summary>
    public string ThreadsText => Kind switch
    {
        RunnerKind.SingleProcess => $"{Threads} (all models in turn)",
        RunnerKind.Embedded => $"{Threads} per model actor",
        _ => $"teacher {TeacherThreads}, students {StudentThreads} each" + (Pin is null ? "" : $"; pinned: teacher {CoresOf("teacher")}, students {CoresOf("student")}"),
    };

    /// <summary>The coordinator's command line (without the multi-process node options).</summary>
    public NodeArgs CoordinatorArgs(NodeArgs coordinator, string outputDirectory)
    {
        coordinator.Dataset(Dataset).Models(TeacherModel, StudentModel).Mode(Mode).BatchSize(BatchSize).MaxSteps(MaxSteps).Epochs(Epochs)
            .TestLimit(TestLimit).Output(outputDirectory, Name);
        if (!string.IsNullOrEmpty(DataPath)) coordinator.DataPath(DataPath);
        if (StepProtocol is not null && Kind != RunnerKind.SingleProcess) coordinator.Set("--step-protocol", StepProtocol);
        if (TeacherLookahead is { } lookahead && Kind != RunnerKind.SingleProcess) coordinator.Set("--teacher-lookahead", lookahead);
        // Enough synthetic images for the steps asked (one epoch), and a small test split.
        int train = Math.Max(2048, (MaxSteps > 0 ? MaxSteps : 16) * BatchSize);
        if (Dataset == "synthetic")
        {
            coordinator.Synthetic(train: train, test: 256, classes: ClassCount);
            if (ImageSize is { } size) coordinator.Config("Data:SyntheticSize", size);
            if (Channels is { } channels) coordinator.Config("Data:SyntheticChannels", channels);
        }
        if (IsDetection)
        {
            coordinator.Task("detection").Config("Data:SyntheticTrain", train).Config("Data:SyntheticTest", 256);
            if (ImageSize is { } size) coordinator.Set("--image-size", size);
            if (Channels is { } channels) coordinator.Set("--channels", channels);
        }
        return Kind switch
        {
            RunnerKind.SingleProcess => coordinator.SingleProcess().Students(Students).Threads(Threads),
            RunnerKind.Embedded => coordinator.Embedded().Students(Students).Threads(Threads),
            _ => coordinator,
        };
    }
}

/// <summary>What a run left behind.</summary>
public sealed record CohortOutcome(CohortSpec Spec, string RunDirectory, int ExitCode, double WallSeconds, IReadOnlyList<StepSample> Steps, int Nodes);

/// <summary>Runs a cohort with one of the three runners as real processes and collects its steps.jsonl.</summary>
public static class CohortRunner
{
    /// <param name="sample">Called every <paramref name="sampleSeconds"/> with (seconds since start, node name, pid) while the run lasts (memory sampling).</param>
    public static CohortOutcome Run(CohortSpec spec, string resultsDirectory, TimeSpan timeout, TextWriter log,
        double sampleSeconds = 0, Action<double, RunningProcess>? sample = null)
    {
        var runs = Path.Combine(resultsDirectory, "runs");
        var runDirectory = Path.Combine(runs, spec.Name);
        if (Directory.Exists(runDirectory)) Directory.Delete(runDirectory, recursive: true);
        var logs = Path.Combine(runDirectory, "logs");
        // No progress bar, no colours: plain lines in the logs.
        var environment = new Dictionary<string, string> { ["NO_COLOR"] = "1" };
        if (spec.OmpWaitPolicy is { } policy) environment["OMP_WAIT_POLICY"] = policy.ToUpperInvariant();
        using var cluster = new ProcessCluster(logs) { LogDirectory = logs, Environment = environment, MessageLines = 40 };
        var clock = Stopwatch.StartNew();
        RunningProcess coordinator;
        if (spec.Kind != RunnerKind.MultiProcess)
            coordinator = cluster.Start("coordinator", spec.CoordinatorArgs(NodeArgs.Coordinator(), runs));
        else
        {
            coordinator = cluster.Start("coordinator", spec.CoordinatorArgs(cluster.Coordinator(), runs).MinStudents(spec.Students));
            coordinator.WaitFor("Waiting for a teacher", TimeSpan.FromMinutes(3));
            RunningProcess Peer(string name, string role, string model, int threads)
            {
                var command = cluster.Peer(role).Model(model).Classes(spec.Classes).InputShape(spec.InputShape).Threads(threads).Command;
                return cluster.Start(name, spec.CoresOf(role) is { } cores ? command.Under("taskset", "-c", cores) : command);
            }
            Peer("teacher", "teacher", spec.TeacherModel, spec.TeacherThreads);
            for (int i = 1; i <= spec.Students; i++) Peer($"student-{i}", "student", spec.StudentModel, spec.StudentThreads);
        }
        var nodes = cluster.Nodes;
        log.WriteLine($"  {spec.Name}: {spec.Kind.Name()}, {nodes.Count} process(es), threads {spec.ThreadsText}; logs in {logs}");

        var deadline = clock.Elapsed + timeout;
        double nextSample = 0;
        while (!coordinator.HasExited)
        {
            if (clock.Elapsed > deadline) throw new TimeoutException($"{spec.Name} did not finish within {timeout}; coordinator output:\n{coordinator.Tail()}");
            if (sample is not null && clock.Elapsed.TotalSeconds >= nextSample)
            {
                foreach (var n in nodes.Where(n => !n.HasExited)) sample(clock.Elapsed.TotalSeconds, n);
                nextSample = clock.Elapsed.TotalSeconds + sampleSeconds;
            }
            Thread.Sleep(100);
        }
        int exit = coordinator.WaitForExit(TimeSpan.FromSeconds(30));
        double wall = clock.Elapsed.TotalSeconds;
        // Peers leave on their own when the coordinator ends the run; give them a moment, then stop them.
        foreach (var peer in nodes.Skip(1))
        {
            var until = Stopwatch.StartNew();
            while (!peer.HasExited && until.Elapsed < TimeSpan.FromSeconds(20)) Thread.Sleep(100);
            peer.Stop(TimeSpan.FromSeconds(10));
        }
        if (exit != 0) log.WriteLine($"  {spec.Name}: coordinator exited {exit}; last lines:\n{coordinator.Tail(15)}");
        var files = new RunFiles(runDirectory);
        var steps = File.Exists(files.Metrics("steps.jsonl")) ? files.StepLog().Select(StepSample.Of).ToList() : [];
        return new CohortOutcome(spec, runDirectory, exit, wall, steps, nodes.Count);
    }

    /// <summary>A failure message cut to its lines' first 300 characters (the node logs have the rest).</summary>
    public static string Brief(string message) =>
        string.Join(Environment.NewLine, message.Split('\n').Select(l => l.Length > 300 ? l[..300] + " ..." : l));

    /// <summary>A line about the machine and its load, for the report.</summary>
    public static string Machine()
    {
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        string cpu = "n/a";
        if (File.Exists("/proc/cpuinfo"))
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        return $"{Environment.ProcessorCount} cores ({cpu}), {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
               $".NET {Environment.Version}; load average at start {load}";
    }
}
