using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;

namespace P2PDistill.Benchmarks.Support;

/// <summary>What the PyTorch reference script printed on its JSON line (pytorch/cohort_throughput.py).</summary>
public sealed record PyTorchFigures(
    string Version, string Blas, int Threads, int Steps, int Skipped, double ImagesPerSecond, double MedianStepMs, double MedianSlowestMs,
    double MedianSumComputeMs, double MedianOverheadMs, IReadOnlyList<double> MedianComputePerModel, IReadOnlyList<long> Parameters,
    IReadOnlyList<(string Model, double Loss, double Ce, double Kd, double Ml)> FirstStep)
{
    /// <summary>"1.13" of "1.13.0a0".</summary>
    public string ShortVersion => string.Join('.', Version.Split('.').Take(2));

    public static PyTorchFigures Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        return new PyTorchFigures(
            r.GetProperty("torch").GetString() ?? "?", r.GetProperty("blas").GetString() ?? "?", r.GetProperty("threads").GetInt32(),
            r.GetProperty("steps").GetInt32(), r.GetProperty("skipped").GetInt32(), r.GetProperty("images_per_second").GetDouble(),
            r.GetProperty("median_step_ms").GetDouble(), r.GetProperty("median_slowest_ms").GetDouble(),
            r.GetProperty("median_sum_compute_ms").GetDouble(), r.GetProperty("median_overhead_ms").GetDouble(),
            r.GetProperty("median_compute_ms").EnumerateArray().Select(e => e.GetDouble()).ToList(),
            r.GetProperty("parameters").EnumerateArray().Select(e => e.GetInt64()).ToList(),
            r.GetProperty("first_step").EnumerateArray().Select(e => (e.GetProperty("model").GetString() ?? "?", e.GetProperty("loss").GetDouble(),
                e.GetProperty("ce").GetDouble(), e.GetProperty("kd").GetDouble(), e.GetProperty("ml").GetDouble())).ToList());
    }
}

/// <summary>How the PyTorch reference went: its figures, or why there are none (not run, or failed).</summary>
public sealed record PyTorchOutcome(PyTorchFigures? Figures, string? Python, string Note, bool Failed, string? LogPath = null);

/// <summary>
/// The PyTorch reference of the throughput benchmark (issue 14): <c>pytorch/cohort_throughput.py</c>, copied beside this
/// assembly, trains the single-process cohort in PyTorch (Debian's python3-torch) with the same settings. It is a reference
/// for the ratio, not part of the product, and never needed by the tests.
/// </summary>
public static class PyTorchReference
{
    public const string InstallHint = "apt-get install python3-torch";

    /// <summary>Models the script mirrors layer by layer (src/Shared/Core/Models/CnnModels.cs).</summary>
    public static readonly IReadOnlySet<string> MirroredModels = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "cnn-teacher", "cnn-student", "tiny", "mlp" };

    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "pytorch", "cohort_throughput.py");

    /// <summary>Null when the script can mirror this cohort, else why not.</summary>
    public static string? Unsupported(CohortSpec spec)
    {
        if (spec.Task is not "classification") return $"the PyTorch mirror covers classification only, not --task {spec.Task}";
        if (spec.Dataset is not ("fashion-mnist" or "mnist" or "synthetic")) return $"the PyTorch mirror reads fashion-mnist, mnist or synthetic, not {spec.Dataset}";
        foreach (var model in new[] { spec.TeacherModel, spec.StudentModel })
            if (!MirroredModels.Contains(model)) return $"the PyTorch mirror has no '{model}' (it has {string.Join(", ", MirroredModels)})";
        return null;
    }

    /// <summary>
    /// The interpreter to use: <paramref name="requested"/> when given, else the first of python3 on PATH and /usr/bin/python3 that
    /// imports torch (a pyenv or venv python3 on PATH usually does not see Debian's python3-torch). Returns (python, torch version)
    /// or (null, why).
    /// </summary>
    public static (string? Python, string Detail) Find(string requested)
    {
        var candidates = requested.Length > 0 ? [requested] : new[] { "python3", "/usr/bin/python3" };
        var tried = new List<string>();
        foreach (var python in candidates.Distinct())
        {
            var (exit, stdout, stderr) = Execute(python, ["-c", "import torch, numpy; print(torch.__version__)"], TimeSpan.FromMinutes(1), null);
            if (exit == 0 && stdout.Trim().Length > 0) return (python, stdout.Trim());
            var why = (stderr.Trim().Split('\n').LastOrDefault() ?? "").Trim();
            tried.Add($"{python}: {(why.Length > 0 ? why : $"exit {exit}")}");
        }
        return (null, string.Join("; ", tried));
    }

    /// <summary>The script's arguments: the run's settings and the C# defaults of everything the benchmark does not set.</summary>
    public static List<string> Arguments(CohortSpec spec, int warmup, string dataPath)
    {
        var inv = CultureInfo.InvariantCulture;
        var training = new TrainingOptions();
        var optimizer = new OptimizerOptions();
        var distillation = training.Distillation;
        var (channels, height, width) = Shape(spec);
        var args = new List<string>
        {
            ScriptPath, "--dataset", spec.Dataset, "--steps", spec.MaxSteps.ToString(inv), "--warmup", warmup.ToString(inv),
            "--batch-size", spec.BatchSize.ToString(inv), "--students", spec.Students.ToString(inv), "--mode", spec.Mode,
            "--teacher-model", spec.TeacherModel, "--student-model", spec.StudentModel, "--threads", spec.Threads.ToString(inv),
            "--seed", training.Seed.ToString(inv), "--data-seed", new DataOptions().Seed.ToString(inv),
            "--weight-ce", distillation.WeightCe.ToString("R", inv), "--alpha", distillation.Alpha.ToString("R", inv),
            "--beta", distillation.Beta.ToString("R", inv), "--temperature-kd", distillation.TemperatureKd.ToString("R", inv),
            "--temperature-ml", distillation.TemperatureMl.ToString("R", inv), "--optimizer", optimizer.Name.ToString().ToLowerInvariant(),
            "--lr", optimizer.LearningRate.ToString("R", inv), "--momentum", optimizer.Momentum.ToString("R", inv),
            "--weight-decay", optimizer.WeightDecay.ToString("R", inv),
        };
        if (dataPath.Length > 0) args.AddRange(["--data-path", dataPath]);
        if (spec.Dataset == "synthetic")
            args.AddRange(["--classes", spec.Classes.ToString(inv), "--image-size", height.ToString(inv), "--channels", channels.ToString(inv),
                "--synthetic-train", Math.Max(2048, (spec.MaxSteps > 0 ? spec.MaxSteps : 16) * spec.BatchSize).ToString(inv)]);
        else
        {
            var n = spec.Dataset == "mnist" ? Normalization.Mnist : Normalization.FashionMnist;
            args.Add("--mean");
            args.AddRange(n.Mean.Select(v => v.ToString("R", inv)));
            args.Add("--std");
            args.AddRange(n.Std.Select(v => v.ToString("R", inv)));
        }
        // The C# networks' parameter counts: the script fails unless its mirrors have the same.
        var modelSpec = new ModelSpec(channels, height, width, spec.Classes);
        args.AddRange(["--expect-teacher-params", CSharpParameters(spec.TeacherModel, modelSpec).ToString(inv)]);
        args.AddRange(["--expect-student-params", CSharpParameters(spec.StudentModel, modelSpec).ToString(inv)]);
        return args;
    }

    public static long CSharpParameters(string model, ModelSpec spec)
    {
        using var network = ModelRegistry.Create(model, spec);
        return ModelRegistry.ParameterCount(network);
    }

    /// <summary>Runs the script; its stderr (progress) goes to <paramref name="logPath"/>, its last JSON line is the result.</summary>
    public static PyTorchOutcome Run(string python, IReadOnlyList<string> arguments, string logPath, TimeSpan timeout)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var (exit, stdout, stderr) = Execute(python, arguments, timeout, logPath);
        var json = stdout.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith('{'));
        if (exit != 0 || json is null)
        {
            var tail = string.Join(" | ", stderr.Trim().Split('\n').TakeLast(3).Select(l => l.Trim()));
            return new PyTorchOutcome(null, python, $"failed (exit {exit}): {tail}", true, logPath);
        }
        try
        {
            return new PyTorchOutcome(PyTorchFigures.Parse(json), python, "", false, logPath);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new PyTorchOutcome(null, python, $"failed: unreadable result line ({e.Message})", true, logPath);
        }
    }

    private static (int C, int H, int W) Shape(CohortSpec spec)
    {
        var parts = spec.InputShape.Split('x').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>Starts <paramref name="file"/>, collects stdout and stderr (stderr also into <paramref name="logPath"/>), stops it at the timeout.</summary>
    private static (int Exit, string Stdout, string Stderr) Execute(string file, IReadOnlyList<string> arguments, TimeSpan timeout, string? logPath)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, "", $"cannot start {file}: {e.Message}");
        }
        using (process)
        {
            var stdout = new System.Text.StringBuilder();
            var stderr = new System.Text.StringBuilder();
            using var log = logPath is null ? null : new StreamWriter(logPath) { AutoFlush = true };
            var gate = new object();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (gate) stdout.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (gate)
                {
                    stderr.AppendLine(e.Data);
                    log?.WriteLine(e.Data);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                lock (gate) return (-1, stdout.ToString(), stderr + $"\ntimed out after {timeout}");
            }
            process.WaitForExit(); // drains the asynchronous readers
            lock (gate) return (process.ExitCode, stdout.ToString(), stderr.ToString());
        }
    }
}
