using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Runs;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Runs;

/// <summary>How a run is executed; the session is the same for all of them.</summary>
public enum RunKind { SingleProcess, Embedded, Cluster, Experiment }

/// <summary>
/// The life of one run, the same for every runner (single-process, embedded, cluster, experiment): the plan from the dataset,
/// the run directory and its config.json, the files and observers that follow training, and the end — plots, exported
/// models, summary.md and the exit code. The runners only say how a step is executed; <see cref="TrainingSchedule"/> says
/// when a run evaluates, checkpoints and ends.
/// </summary>
public sealed class RunSession : IDisposable
{
    private readonly MetricsWriter metrics;
    private readonly LearningCurves? curves;
    private readonly ILogger logger;
    private readonly bool quiet;
    private readonly RunHistory? history;
    private readonly long resumedFrom;

    private RunSession(RunKind kind, TrainingPlan plan, RunDirectory run, ILogger logger, RunHistory? history = null, long resumedFrom = 0)
    {
        this.history = history;
        this.resumedFrom = resumedFrom;
        Kind = kind;
        Plan = plan;
        Run = run;
        this.logger = logger;
        // An experiment makes many runs: it keeps each one's metrics and summary, and reports on the console itself.
        quiet = kind == RunKind.Experiment;
        metrics = new MetricsWriter(run.Path, MetricsWriter.EvalHeader(plan.Task.MetricColumns));
        if (quiet)
        {
            Observer = metrics;
            return;
        }
        curves = new LearningCurves(run.Path);
        if (history is not null) curves.Load(history);
        ITrainingObserver progress = ProgressBar.Available
            ? new ProgressBar(plan.StepsPerEpoch, plan.Training.Epochs)
            : new ProgressLog(logger, plan.StepsPerEpoch, plan.Training.Epochs);
        Observer = new CompositeObserver(metrics, new TensorBoardObserver(run.Path), curves, progress);
    }

    public RunKind Kind { get; }
    public TrainingPlan Plan { get; }
    public RunDirectory Run { get; }

    /// <summary>Follows every step and evaluation: metrics files, TensorBoard, learning curves, progress.</summary>
    public ITrainingObserver Observer { get; }

    /// <summary>The learning curves drawn at every evaluation and at the end (null for an experiment's runs).</summary>
    internal LearningCurves? Curves => curves;

    /// <summary>The run's id in checkpoint manifests: its folder's name, whichever runner writes them.</summary>
    public string RunId => Path.GetFileName(Run.Path);

    public string CheckpointDirectory => Path.Combine(Run.Path, "checkpoints");
    public string ExportDirectory => Path.Combine(Run.Path, "models");

    /// <summary>
    /// Loads the dataset (a missing or corrupt one stops here, before anything is written), logs what the loader noticed, and
    /// derives the plan every runner trains by.
    /// </summary>
    public static TrainingPlan LoadPlan(TrainingOptions training, DataOptions data, OptimizerOptions optimizer, ILogger logger)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var splits = DatasetFactory.Load(data);
        foreach (var warning in splits.Warnings) logger.LogWarning("{Warning}", warning);
        logger.LogInformation("Dataset {Name}: {Train} training and {Test} test images, {Shape}, {Classes} classes, loaded in {Seconds:F1} s",
            data.Dataset, splits.Train.Count, splits.Test.Count, splits.Shape, splits.NumClasses, clock.Elapsed.TotalSeconds);
        return new TrainingPlan(training, data, splits, DatasetFactory.DefaultNormalization(data, splits), optimizer);
    }

    /// <summary>
    /// A new run in <paramref name="parent"/>/<paramref name="name"/> (defaults: the training options' output folder and run
    /// name): creates the folder and writes config.json with the plan's settings and <paramref name="more"/> (e.g. node settings).
    /// </summary>
    public static RunSession Create(RunKind kind, TrainingPlan plan, ILogger logger, string? parent = null, string? name = null,
        IReadOnlyDictionary<string, object>? more = null)
    {
        var run = RunDirectory.Create(parent ?? plan.Training.OutputDirectory, name ?? plan.Training.RunName);
        var configuration = new Dictionary<string, object>
        {
            ["mode"] = ConfigurationName(kind), ["training"] = plan.Training, ["data"] = plan.Data, ["optimizer"] = plan.Optimizer,
        };
        foreach (var (key, value) in more ?? new Dictionary<string, object>()) configuration[key] = value;
        run.WriteConfiguration(configuration);
        if (kind != RunKind.Experiment) logger.LogInformation("Run directory: {Run}", run.Path);
        return new RunSession(kind, plan, run, logger);
    }

    /// <summary>
    /// An interrupted run continued in its own folder: its config.json stays, its metrics and TensorBoard event files go on from
    /// the checkpoint (what the interrupted run wrote after <paramref name="fromStep"/> is dropped, so no step is there twice), and
    /// the learning curves and summary start from the metrics recorded up to it, so that they cover the whole run.
    /// </summary>
    public static RunSession Resume(RunKind kind, TrainingPlan plan, string path, long fromStep, ILogger logger)
    {
        var run = RunDirectory.Open(path);
        MetricsWriter.TruncateAfter(run.Path, fromStep);
        TensorBoardObserver.TruncateAfter(run.Path, fromStep);
        return new RunSession(kind, plan, run, logger, RunHistory.Read(run.Path), fromStep);
    }

    private static string ConfigurationName(RunKind kind) => kind switch
    {
        RunKind.SingleProcess => "single-process",
        RunKind.Embedded => "embedded",
        RunKind.Cluster => "cluster",
        RunKind.Experiment => "experiment (single-process)",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// Ends the run: draws the curves, exports the models, draws the task's test images with the exported models' predictions
    /// (<see cref="TestImagesPlot"/>), writes summary.md (and prints it), and says how the program exits. A
    /// run that failed exits 1; one stopped on request exits 0 when <paramref name="resumable"/> (its checkpoint continues it),
    /// else 1. Nothing already written is lost when a file cannot be written: that is logged and the run exits 1.
    /// </summary>
    public ExitCode Finish(CohortResult result, bool stoppedOnRequest, bool resumable)
    {
        var code = !result.Failed && (result.Completed || (stoppedOnRequest && resumable)) ? ExitCode.Completed : ExitCode.Failed;
        try
        {
            // A resumed run reports the whole run: the evaluations made before the checkpoint, read back from eval.csv, come first,
            // and the last of them is the final one when the resumed part made none (a finished run resumed).
            var whole = history?.Before(result, Plan.Task.MetricsLayout(Plan.Splits.Test.Count)) ?? result;
            var summary = Runs.Summary.Markdown(whole, Plan.Training, Plan.Data.Dataset, resumedFrom);
            if (!quiet)
            {
                curves!.Draw();
                // The curves are not in eval.csv: drawn from a live evaluation only (a resumed run that made none keeps the
                // plots its first part drew, if it drew them).
                if (result.Final is { } final)
                {
                    RocPlot.Draw(Run.Path, final);
                    PrecisionRecallPlot.Draw(Run.Path, final);
                }
                var exports = RunExports.Write(whole, Plan.Training, Plan.Data, Plan.Splits.ClassNames, logger);
                var ensemble = RunExports.WriteEnsemble(exports, logger);
                if (exports.Count > 0 && CompressionReport.Write(Path.GetDirectoryName(exports[0].CardPath)!, exports, ensemble, whole.Final, logger) is { } compression)
                    summary += Environment.NewLine + compression;
                // Detection: plots/detections.png from the exported models (logged, never failing the run); classification: nothing.
                TestImagesPlot.Draw(Run.Path, Plan, exports, logger);
            }
            Run.WriteSummary(summary);
            if (!quiet)
            {
                Console.WriteLine();
                Console.WriteLine(summary);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogError("Could not write the run's summary, plots or exports in {Run}: {Message}", Run.Path, e.Message);
            code = ExitCode.Failed;
        }
        if (quiet) return code;
        logger.LogInformation("{Steps} steps in {Seconds:F1} s: {Rate:F0} images/s; run directory {Run}", result.Steps, result.Seconds, result.ImagesPerSecond, Run.Path);
        if (!result.Completed) logger.LogError("Run stopped early: {Reason}", result.StopReason);
        return code;
    }

    /// <summary>Closes the metrics files, then releases the run directory's lock (held when this session created the folder).</summary>
    public void Dispose()
    {
        metrics.Dispose();
        Run.Dispose();
    }
}
