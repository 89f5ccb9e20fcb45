using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Runs;

/// <summary>Fans training events out to several observers.</summary>
public sealed class CompositeObserver(params ITrainingObserver[] observers) : ITrainingObserver
{
    public void OnStep(StepRecord step)
    {
        foreach (var o in observers) o.OnStep(step);
    }

    public void OnEvaluation(EvalRecord evaluation)
    {
        foreach (var o in observers) o.OnEvaluation(evaluation);
    }
}

/// <summary>Plain progress lines: epoch, step, images/s, ETA, losses, at most every few seconds; and each evaluation.</summary>
public sealed class ProgressLog(ILogger logger, int stepsPerEpoch, int epochs, double intervalSeconds = 5) : ITrainingObserver
{
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
    private double lastPrint = double.NegativeInfinity;
    private long firstStep = -1;
    private double firstStepAt;

    public void OnStep(StepRecord s)
    {
        var now = clock.Elapsed.TotalSeconds;
        if (firstStep < 0) (firstStep, firstStepAt) = (s.GlobalStep, now);
        bool last = s.Step + 1 == stepsPerEpoch;
        if (now - lastPrint < intervalSeconds && !last) return;
        lastPrint = now;
        long total = (long)stepsPerEpoch * epochs;
        double rate = s.GlobalStep > firstStep ? (s.GlobalStep - firstStep) / Math.Max(1e-9, now - firstStepAt) : 1 / Math.Max(1e-9, s.Seconds);
        var eta = TimeSpan.FromSeconds(Math.Max(0, (total - s.GlobalStep) / Math.Max(rate, 1e-9)));
        var losses = string.Join(" ", s.Models.Select(m => $"{m.Id}={m.Loss.Total:F3}"));
        var traffic = s.BytesSent + s.BytesReceived > 0
            ? $" | step {s.Seconds * 1000:F0} ms, coordination {s.CoordinationMs:F1} ms, {s.BytesSent / 1024.0:F0} KiB out {s.BytesReceived / 1024.0:F0} KiB in"
            : "";
        logger.LogInformation("epoch {Epoch}/{Epochs} step {Step}/{Steps} | {Rate:F0} img/s | ETA {Eta:hh\\:mm\\:ss} | loss {Losses}{Traffic}",
            s.Epoch + 1, epochs, s.Step + 1, stepsPerEpoch, rate * s.BatchSize, eta, losses, traffic);
    }

    public void OnEvaluation(EvalRecord e)
    {
        foreach (var m in e.Models) logger.LogInformation("eval epoch {Epoch}: {Model} {Metrics}", e.Epoch + 1, m.Id, m.Metrics);
        if (e.StudentEnsemble is not null) logger.LogInformation("eval epoch {Epoch}: student-ensemble {Metrics}", e.Epoch + 1, e.StudentEnsemble);
    }
}

/// <summary>
/// A live one-line progress bar for a terminal: epoch, step, images/s, ETA and losses, redrawn in place at most
/// a few times a second. Evaluations are printed as lines. Used when standard output is a terminal.
/// </summary>
public sealed class ProgressBar(int stepsPerEpoch, int epochs, TextWriter? output = null) : ITrainingObserver
{
    private readonly TextWriter output = output ?? Console.Out;
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
    private double lastDraw = double.NegativeInfinity;
    private long firstStep = -1;
    private double firstAt;

    /// <summary>True when both standard streams go to a terminal.</summary>
    public static bool Available => !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    public void OnStep(StepRecord s)
    {
        var now = clock.Elapsed.TotalSeconds;
        if (firstStep < 0) (firstStep, firstAt) = (s.GlobalStep, now);
        if (now - lastDraw < 0.25 && s.Step + 1 != stepsPerEpoch) return;
        lastDraw = now;
        long total = (long)stepsPerEpoch * epochs;
        double rate = s.GlobalStep > firstStep ? (s.GlobalStep - firstStep) / Math.Max(1e-9, now - firstAt) : 0;
        var eta = rate > 0 ? TimeSpan.FromSeconds((total - s.GlobalStep) / rate) : TimeSpan.Zero;
        const int width = 24;
        int filled = (int)(width * (s.Step + 1) / (double)stepsPerEpoch);
        var bar = new string('#', filled) + new string('-', width - filled);
        var losses = string.Join(" ", s.Models.Select(m => $"{Short(m.Id)} {m.Loss.Total:F3}"));
        var line = $"epoch {s.Epoch + 1}/{epochs} [{bar}] {s.Step + 1}/{stepsPerEpoch} {rate * s.BatchSize,6:F0} img/s ETA {eta:hh\\:mm\\:ss} | {losses}";
        int max = Math.Max(40, SafeWidth() - 1);
        if (line.Length > max) line = line[..max];
        output.Write("\r" + line.PadRight(max));
        if (s.Step + 1 == stepsPerEpoch) output.WriteLine();
        output.Flush();
    }

    public void OnEvaluation(EvalRecord e)
    {
        var parts = e.Models.Select(m => $"{m.Id} {m.Metrics.Headline:F4}").ToList();
        if (e.StudentEnsemble is not null) parts.Add($"student-ensemble {e.StudentEnsemble.Headline:F4}");
        output.WriteLine($"epoch {e.Epoch + 1} test {e.Models.FirstOrDefault()?.Metrics.HeadlineName ?? "accuracy"}: {string.Join(", ", parts)}");
        output.Flush();
    }

    private static string Short(string id) => id.Replace("student-", "s", StringComparison.Ordinal).Replace("teacher", "t", StringComparison.Ordinal);

    private static int SafeWidth()
    {
        try { return Console.WindowWidth > 0 ? Console.WindowWidth : 120; }
        catch (IOException) { return 120; }
    }
}
