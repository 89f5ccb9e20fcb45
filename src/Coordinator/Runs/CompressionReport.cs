using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using P2PDistill.Coordinator.Onnx;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Onnx;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Runs;

/// <summary>One row of the compression report: a model or the student ensemble, measured from its ONNX file.</summary>
public sealed record CompressionRow(
    string Model,
    string Role,
    string Architecture,
    long Parameters,
    long? OnnxBytes,
    long? MacsPerImage,
    double? MsPerImageBatch1,
    double? MsPerImageBatch32,
    IReadOnlyList<CompressionMetric> Metrics);

/// <summary>A final test metric of a row (accuracy, ROC-AUC; mAP@0.5, mAP@0.5:0.95).</summary>
public sealed record CompressionMetric(string Name, double Value);

/// <summary>How the latencies were measured, for the report's reader.</summary>
public sealed record LatencyBudget(int Threads = 1, int MinRuns = 3, int MaxRuns = 100, double MinSeconds = 0.3, double MaxSeconds = 2.0)
{
    public static LatencyBudget Default { get; } = new();
}

/// <summary>
/// What the compression bought, for every run that exports: per model and for the student ensemble (from its ONNX files,
/// <c>models/ID.onnx</c> and <c>models/ensemble.onnx</c>), parameters, ONNX file size, multiply-accumulates per image (convolutions
/// and linear layers, recorded by <see cref="OnnxExporter"/>), CPU latency per image through ONNX Runtime with one thread at batch 1
/// and at batch 32 (median of several runs), and the final test metrics, each with its ratio to the teacher. Written to
/// <c>models/compression.md</c> (and <c>models/compression.json</c>) and added to summary.md.
/// </summary>
public static class CompressionReport
{
    public const string MarkdownFileName = "compression.md";
    public const string JsonFileName = "compression.json";
    public const string EnsembleRow = "student-ensemble";

    /// <summary>
    /// Measures every export with an .onnx file and the ensemble file, writes <c>compression.md</c> and <c>compression.json</c> beside
    /// them, and returns the Markdown section for summary.md; null when no model has an .onnx file. A model whose file cannot be
    /// measured is logged and keeps the figures that could be taken.
    /// </summary>
    public static string? Write(string modelsDirectory, IReadOnlyList<ExportResult> exports, string? ensembleOnnx, EvalRecord? final,
        ILogger logger, LatencyBudget? budget = null)
    {
        budget ??= LatencyBudget.Default;
        if (!exports.Any(e => e.OnnxPath is not null)) return null;
        var rows = new List<CompressionRow>();
        foreach (var e in exports.OrderBy(e => e.Card.Role == "teacher" ? 0 : 1))
        {
            var metrics = final?.Models.FirstOrDefault(m => m.Id == e.Card.ModelId)?.Metrics;
            rows.Add(Measure(e.Card.ModelId, e.Card.Role, e.Card.Architecture, e.Card.ParameterCount, e.OnnxPath, metrics, budget, logger));
        }
        var students = exports.Where(e => e.Card.Role == "student").ToList();
        if (ensembleOnnx is not null && students.Count > 1)
            rows.Add(Measure(EnsembleRow, "ensemble", $"{students.Count} × {string.Join(", ", students.Select(s => s.Card.Architecture).Distinct())}",
                students.Sum(s => s.Card.ParameterCount), ensembleOnnx, final?.StudentEnsemble, budget, logger));

        var markdown = Markdown(rows, budget);
        AtomicFile.WriteAllText(Path.Combine(modelsDirectory, MarkdownFileName), "# Compression report\n\n" + markdown);
        AtomicFile.WriteAllText(Path.Combine(modelsDirectory, JsonFileName),
            JsonSerializer.Serialize(new { latency = budget, rows }, ModelCard.JsonOptions));
        return "## Compression\n\n" + markdown;
    }

    /// <summary>One row's figures; what cannot be measured (no .onnx, a file ONNX Runtime refuses) stays empty and is logged.</summary>
    public static CompressionRow Measure(string model, string role, string architecture, long parameters, string? onnxPath, IModelMetrics? metrics,
        LatencyBudget budget, ILogger logger)
    {
        var quality = new List<CompressionMetric>();
        if (metrics is not null)
        {
            quality.Add(new CompressionMetric(metrics.HeadlineName, metrics.Headline));
            if (metrics.ScoreName != metrics.HeadlineName && double.IsFinite(metrics.Score)) quality.Add(new CompressionMetric(metrics.ScoreName, metrics.Score));
        }
        if (onnxPath is null || !File.Exists(onnxPath))
            return new CompressionRow(model, role, architecture, parameters, null, null, null, null, quality);
        long bytes = new FileInfo(onnxPath).Length;
        long? macs = null;
        double? one = null, many = null;
        try
        {
            using var session = OnnxRuntimeModel.Load(onnxPath, budget.Threads);
            if (session.Metadata.TryGetValue(OnnxExporter.MetadataPrefix + OnnxExporter.MacsKey, out var text) &&
                long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var m))
                macs = m;
            one = MillisecondsPerImage(session, 1, budget);
            many = MillisecondsPerImage(session, 32, budget);
        }
        catch (Exception e) when (e is ModelExportException or IOException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            logger.LogWarning("Compression report: could not measure {Model} from {File}: {Message}", model, onnxPath, e.Message);
        }
        return new CompressionRow(model, role, architecture, parameters, bytes, macs, one, many, quality);
    }

    /// <summary>
    /// Median wall time of one forward pass at <paramref name="batch"/> images, divided by the images: after one warm-up run, runs
    /// until at least <see cref="LatencyBudget.MinRuns"/> and <see cref="LatencyBudget.MinSeconds"/>, at most
    /// <see cref="LatencyBudget.MaxRuns"/> or <see cref="LatencyBudget.MaxSeconds"/>. The input is seeded random pixel values.
    /// </summary>
    public static double MillisecondsPerImage(OnnxRuntimeModel model, int batch, LatencyBudget budget)
    {
        var shape = model.InputShape;
        var random = new Random(batch);
        var input = new float[(long)batch * shape.Channels * shape.Height * shape.Width];
        for (int i = 0; i < input.Length; i++) input[i] = random.Next(256);
        model.Run(input, batch); // warm-up: allocations, the first run's planning
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < budget.MaxRuns && (times.Count < budget.MinRuns || total.Elapsed.TotalSeconds < budget.MinSeconds))
        {
            if (times.Count >= budget.MinRuns && total.Elapsed.TotalSeconds >= budget.MaxSeconds) break;
            var one = Stopwatch.StartNew();
            model.Run(input, batch);
            times.Add(one.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
        return median / batch;
    }

    /// <summary>The report's explanation and its table: every figure with its ratio to the teacher's (the first row of role teacher).</summary>
    public static string Markdown(IReadOnlyList<CompressionRow> rows, LatencyBudget budget)
    {
        var inv = CultureInfo.InvariantCulture;
        var teacher = rows.FirstOrDefault(r => r.Role == "teacher");
        var metricNames = rows.SelectMany(r => r.Metrics.Select(m => m.Name)).Distinct().ToList();
        var sb = new StringBuilder();
        sb.AppendLine("What each student and the student ensemble cost, against the teacher (× : the ratio to the teacher's figure). From the ONNX files " +
                      "in `models/`: parameters; ONNX file size; multiply-accumulates per image (convolutions and linear layers); CPU latency per image " +
                      $"through ONNX Runtime, {budget.Threads} thread, at batch 1 and at batch 32 (median of at least {budget.MinRuns} runs, measured on this " +
                      "machine at the end of the run: compare the ratios, the milliseconds depend on the machine and its load); the final test metrics.");
        sb.AppendLine();
        var titles = new List<string> { "model", "architecture", "parameters", "ONNX file", "MACs/image", "ms/image, batch 1", "ms/image, batch 32" };
        titles.AddRange(metricNames);
        sb.AppendLine($"| {string.Join(" | ", titles)} |");
        sb.AppendLine($"|---|---|{string.Concat(titles.Skip(2).Select(_ => "---:|"))}");
        foreach (var r in rows)
        {
            var cells = new List<string>
            {
                r.Model,
                r.Architecture,
                WithRatio(r.Parameters, teacher?.Parameters, Count),
                WithRatio(r.OnnxBytes, teacher?.OnnxBytes, Bytes),
                WithRatio(r.MacsPerImage, teacher?.MacsPerImage, Count),
                WithRatio(r.MsPerImageBatch1, teacher?.MsPerImageBatch1, Ms),
                WithRatio(r.MsPerImageBatch32, teacher?.MsPerImageBatch32, Ms),
            };
            foreach (var name in metricNames)
            {
                var mine = r.Metrics.FirstOrDefault(m => m.Name == name);
                var theirs = teacher?.Metrics.FirstOrDefault(m => m.Name == name);
                cells.Add(mine is null ? "n/a" : WithRatio(mine.Value, theirs?.Value, v => v.ToString("F4", inv)));
            }
            sb.AppendLine($"| {string.Join(" | ", cells)} |");
        }
        return sb.ToString();
    }

    private static string WithRatio(long? value, long? teacher, Func<double, string> format) =>
        WithRatio(value is null ? null : (double)value, teacher is null ? null : (double)teacher, format);

    private static string WithRatio(double? value, double? teacher, Func<double, string> format)
    {
        if (value is not { } v) return "n/a";
        var text = format(v);
        return teacher is { } t && t > 0 ? $"{text} ({(v / t).ToString(v / t >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture)}×)" : text;
    }

    private static string Count(double n) => n switch
    {
        >= 1e9 => (n / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " G",
        >= 1e6 => (n / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " M",
        >= 1e3 => (n / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " K",
        _ => n.ToString("F0", CultureInfo.InvariantCulture),
    };

    private static string Bytes(double n) => n switch
    {
        >= 1 << 20 => (n / (1 << 20)).ToString("F2", CultureInfo.InvariantCulture) + " MiB",
        >= 1 << 10 => (n / (1 << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => n.ToString("F0", CultureInfo.InvariantCulture) + " B",
    };

    private static string Ms(double ms) => ms.ToString(ms >= 10 ? "F1" : ms >= 0.1 ? "F3" : "F4", CultureInfo.InvariantCulture) + " ms";
}
