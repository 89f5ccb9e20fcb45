using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Coordinator.Experiments;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Runs;
using P2PDistill.Shared.Settings;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Training;
using TorchSharp;

namespace P2PDistill.Coordinator.Commands;

/// <summary>
/// <c>experiment</c>: the paper's comparison. Trains teacher + N students with the single-process cohort trainer for every
/// combination of modes, seeds, cohort sizes and temperatures, one run after the other, and writes one row per run, a
/// Markdown table of mean ± std of the task's test metrics per mode (<see cref="ExperimentMetrics"/>: accuracy and ROC-AUC;
/// mAP@0.5 and mAP@0.5:0.95 with <c>--task detection</c>), a plain-words verdict on KD + ML against KD and ML, and plots.
/// Resumable: runs already in the output folder's results.csv are skipped, so an interrupted experiment continues.
/// </summary>
public static class ExperimentCommand
{
    public const string Name = "experiment";
    private const string Section = "Experiment";
    /// <summary>Exit code when Ctrl+C / SIGTERM stopped the experiment; the finished runs are kept.</summary>
    public const int Interrupted = (int)ExitCode.Interrupted;

    public const string Usage = """
        Usage: p2pdistill-coordinator experiment [--modes independent,kd,ml,kd-ml] [--seeds 1,2,3] [--students 2] [--temperatures 1]
                                                 [--output DIR] [training and data options]

          Trains teacher + N students in one process (the reference trainer) for every combination of --modes, --seeds,
          --students and --temperatures with the same data and training settings, then writes to DIR: results.csv and
          results.jsonl (one row per run), results.md (mean ± std over seeds of the test accuracy of the teacher, each
          student, the student mean and the student ensemble, per cohort size, temperature and mode, and their ROC-AUC for
          two classes; a verdict on whether kd-ml's student ensemble beats kd's and ml's, by a paired t-test over the seeds;
          with several temperatures a sweep table), plots/*.png, and each run's metrics in runs/NAME/.
          --task detection: the same in mAP@0.5 and mAP@0.5:0.95 (default data synthetic-detection, models det-teacher
          and det-student; the set's size with --Data:SyntheticTrain=N --Data:SyntheticTest=N and --image-size).
          Runs already in DIR/results.csv are skipped: rerun the same command to continue an interrupted experiment or
          to add seeds, modes, sizes or temperatures. DIR refuses runs with other shared settings (epochs, data, ...).
          Independent training has no KD/ML term, so it runs once per size and seed and serves every temperature.
          The data seed (--data-seed) stays fixed: the seeds vary initialisation, shuffling and augmentation only.
          Exit code 0: done; 2: bad input; 1: a run failed (the others are kept); 130: interrupted (rerun to continue).
        """;

    /// <summary>The task, data, loss-weight, model and optimizer flags, exactly as the coordinator has them.</summary>
    private static readonly HashSet<string> SharedFlags =
    [
        "task", "dataset", "data-path", "image-size", "channels", "train-limit", "test-limit", "crop-padding", "flip", "batch-size", "max-steps",
        "alpha", "beta", "weight-ce", "rampup-epochs", "teacher-model", "student-model", "student-models", "optimizer", "lr", "momentum", "weight-decay", "schedule", "warmup",
    ];

    public static CommandLine Create() => new(
    [
        new("modes", [$"{Section}:Modes"], "comma-separated modes among independent, kd, ml, kd-ml (default: all four)"),
        new("seeds", [$"{Section}:Seeds"], "comma-separated run seeds (default 1,2,3)"),
        new("students", [$"{Section}:Students"], "comma-separated cohort sizes, students per run (default 2; e.g. 2,4)"),
        new("temperatures", [$"{Section}:Temperatures"], "comma-separated temperatures of KD and ML (default 1; several make a sweep)"),
        new("output", [$"{Section}:Output"], "experiment folder: results, report, plots, runs (default runs/experiment)"),
        new("report-only", [$"{Section}:ReportOnly"], "only rebuild results.md and the plots from results.csv; train nothing", IsSwitch: true),
        new("data-seed", ["Data:Seed"], "seed of the image-folder split and of synthetic data, the same for every run (default 1)"),
        new("threads", ["Training:Threads"], "TorchSharp threads (default 0: TorchSharp's default, one per core)"),
        new("epochs", ["Training:Epochs"], "training epochs of every run (default 1)"),
        .. Cli.CoordinatorCli.Create().Flags.Where(f => SharedFlags.Contains(f.Name)),
    ]);

    /// <summary>What the command was asked to do, parsed and validated.</summary>
    public sealed record Plan(
        IReadOnlyList<string> Modes, IReadOnlyList<long> Seeds, IReadOnlyList<int> Students, IReadOnlyList<double> Temperatures,
        string Output, bool ReportOnly, Dictionary<string, string?> Values)
    {
        /// <summary>What the rows record and the report shows: the task's metrics.</summary>
        public ExperimentMetrics Metrics => ExperimentMetrics.For(DataFor(Values).Task);

        /// <summary>Every run, in the order they are made: per size and temperature all modes of seed 1, then seed 2, ...</summary>
        public IReadOnlyList<ExperimentKey> Runs()
        {
            var keys = new List<ExperimentKey>();
            foreach (var n in Students)
                foreach (var t in Temperatures)
                    foreach (var seed in Seeds)
                        foreach (var mode in Modes)
                        {
                            var key = ExperimentKey.For(n, t, mode, seed);
                            if (!keys.Contains(key)) keys.Add(key);
                        }
            return keys;
        }
    }

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        RunAsync(args, output, error, CancellationToken.None);

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation) =>
        CommandSupport.Run(args, Create(), Usage, Name, output, error, (parsed, o, e) => Run(parsed, o, e, cancellation));

    public static Plan Parse(CommandLine.Parsed parsed)
    {
        if (parsed.Positionals.Count > 0)
            throw new CommandInputException($"experiment takes no positional arguments, got '{parsed.Positionals[0]}'.");
        CommandSupport.OnlySections(parsed.Values, Section, "Data", "Training", "Optimizer");
        var v = parsed.Values;
        var modes = List(v, "Modes", "--modes", "independent,kd,ml,kd-ml", s =>
        {
            try { return DistillModes.Parse(s).Name(); }
            catch (SettingFormatException e) { throw new CommandInputException($"--modes: a mode {e.Message}."); }
        });
        var seeds = List(v, "Seeds", "--seeds", "1,2,3", s =>
            long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) && x >= 0 ? x
                : throw new CommandInputException($"--seeds: '{s}' is not a whole number >= 0."));
        var students = List(v, "Students", "--students", "2", s =>
            int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) && x >= 1 && x <= 64 ? x
                : throw new CommandInputException($"--students: '{s}' is not a cohort size in 1..64."));
        var temperatures = List(v, "Temperatures", "--temperatures", "1", s =>
        {
            var t = double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x : double.NaN;
            return DistillationSettings.TemperatureProblem("temperatures", t, s) is { } problem ? throw new CommandInputException(problem + ".") : t;
        });
        var output = v.GetValueOrDefault($"{Section}:Output") is { Length: > 0 } o ? o : Path.Combine("runs", "experiment");
        bool reportOnly = v.GetValueOrDefault($"{Section}:ReportOnly") is { } r && bool.TryParse(r, out var b) && b;

        // Validate the shared settings once, before any run.
        var probe = TrainingFor(v, ExperimentKey.For(students[0], temperatures[0], modes[0], seeds[0]));
        if (probe.Validate() is { Count: > 0 } problems) throw new CommandInputException(string.Join("; ", problems) + ".");
        if (OptimizerFor(v).Validate() is { } problem) throw new CommandInputException(problem + ".");
        var data = DataFor(v);
        if (data.Validate() is { Count: > 0 } dataProblems) throw new CommandInputException(string.Join(" ", dataProblems));
        if (DatasetFactory.TaskMismatch(data) is { } mismatch) throw new CommandInputException(mismatch + ".");
        return new Plan(modes, seeds, students, temperatures, output, reportOnly, v);
    }

    private static IReadOnlyList<T> List<T>(Dictionary<string, string?> values, string key, string flag, string fallback, Func<string, T> parse)
    {
        var text = values.GetValueOrDefault($"{Section}:{key}") ?? fallback;
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(parse).Distinct().ToList();
        if (items.Count == 0) throw new CommandInputException($"{flag} needs at least one value.");
        return items;
    }

    private static TrainingOptions TrainingFor(Dictionary<string, string?> values, ExperimentKey key)
    {
        var t = CommandSupport.Bind(CommandLine.SplitLists(values, "Training:StudentModels"), "Training", new TrainingOptions(), Create());
        return t with
        {
            Students = key.Students,
            Mode = DistillModes.Parse(key.Mode),
            Seed = key.Seed,
            Temperature = key.Temperature ?? 1.0,
            TemperatureKd = null,
            TemperatureMl = null,
            EvalEveryEpochs = 1, // every epoch: the epoch best on val (MedMNIST) is reported beside the final one
            CheckpointEverySteps = 0,
        };
    }

    private static OptimizerOptions OptimizerFor(Dictionary<string, string?> values) => CommandSupport.Bind(values, "Optimizer", new OptimizerOptions(), Create());

    private static DataOptions DataFor(Dictionary<string, string?> values) => CommandSupport.Bind(values, "Data", new DataOptions(), Create());

    /// <summary>
    /// What the shared settings that older versions did not record were then: folders written before detection have no
    /// <c>task</c> and are classification experiments.
    /// </summary>
    private static readonly Dictionary<string, string> OlderSettingDefaults = new() { ["task"] = TaskKind.Classification.SettingName() };

    /// <summary>The settings every run shares, as stored in experiment.json (the lists, threads and output excluded).</summary>
    private static Dictionary<string, string> SharedSettings(Plan plan)
    {
        var t = TrainingFor(plan.Values, ExperimentKey.For(1, 1, "kd-ml", 0));
        var d = DataFor(plan.Values);
        var o = OptimizerFor(plan.Values);
        var inv = CultureInfo.InvariantCulture;
        return new Dictionary<string, string>
        {
            ["task"] = d.Task.SettingName(), ["dataset"] = d.Dataset, ["data_path"] = d.Path ?? "", ["train_limit"] = d.TrainLimit.ToString(inv), ["test_limit"] = d.TestLimit.ToString(inv),
            ["image_size"] = d.ImageSize.ToString(inv), ["channels"] = d.Channels.ToString(inv), ["crop_padding"] = d.CropPadding.ToString(inv),
            ["flip"] = d.HorizontalFlip.ToString(), ["data_seed"] = d.Seed.ToString(inv),
            ["synthetic"] = string.Create(inv, $"{d.SyntheticTrain}/{d.SyntheticTest}/{d.SyntheticClasses}/{d.SyntheticSize}/{d.SyntheticChannels}"),
            ["epochs"] = t.Epochs.ToString(inv), ["batch_size"] = t.BatchSize.ToString(inv), ["max_steps"] = t.MaxStepsPerEpoch.ToString(inv),
            ["teacher_model"] = t.TeacherModel, ["student_model"] = t.StudentModels.Length > 0 ? string.Join("+", t.StudentModels) : t.StudentModel,
            ["weights"] = string.Create(inv, $"ce {t.WeightCe:R}, alpha {t.Alpha:R}, beta {t.Beta:R}{(t.RampUpEpochs > 0 ? $", ramp-up {t.RampUpEpochs:R} epochs" : "")}"),
            ["optimizer"] = string.Create(inv, $"{o.Name.SettingName()} lr {o.LearningRate:R} momentum {o.Momentum:R} wd {o.WeightDecay:R} {o.Schedule.SettingName()} step {o.StepEpochs}x{o.Gamma:R} warmup {o.WarmupSteps}"),
        };
    }

    private static int Run(CommandLine.Parsed parsed, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var plan = Parse(parsed);
        var store = new ExperimentStore(plan.Output, plan.Metrics);
        // One writer per experiment folder: a second command there would train the same runs and delete each other's.
        using var held = RunLock.TryAcquire(store.Directory)
                         ?? throw new CommandInputException(new RunLockedException(store.Directory, RunLock.ReadHolder(store.Directory)).Message);
        if (store.CheckSettings(SharedSettings(plan), OlderSettingDefaults) is { } differences)
            throw new CommandInputException($"'{store.Directory}' holds an experiment with other settings ({differences}). " +
                                            "Use another --output, or the settings of that experiment.");
        List<ExperimentRow> done;
        try
        {
            done = store.Load(w => error.WriteLine($"experiment: warning: {w}")).ToList();
        }
        catch (InvalidDataException e)
        {
            throw new CommandInputException(e.Message);
        }
        var runs = plan.Runs();
        var todo = plan.ReportOnly ? [] : runs.Where(k => done.All(r => r.Key != k)).ToList();
        int finished = runs.Count(k => done.Any(r => r.Key == k));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Experiment in {store.Directory}: {runs.Count} run(s), {finished} already done, {(plan.ReportOnly ? "report only" : $"{todo.Count} to do")}."));

        int status = ExitCodes.Ok;
        if (todo.Count > 0)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
            Console.CancelKeyPress += onCancel;
            using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            try
            {
                status = OnOwnThread(() => Train(plan, store, todo, done, output, error, stop.Token));
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        }

        var report = Report(plan, done);
        AtomicFile.WriteAllText(store.ReportPath, report);
        var groups = ExperimentReport.Aggregate(done, plan.Metrics, plan.Students, plan.Temperatures, plan.Modes, plan.Seeds);
        var plots = ExperimentPlots.Draw(store.PlotDirectory, groups);
        output.WriteLine();
        output.WriteLine(report);
        output.WriteLine($"Wrote {store.CsvPath}, {store.ReportPath} and {plots.Count} plot(s) in {store.PlotDirectory}.");
        if (status == Interrupted) output.WriteLine("Interrupted: rerun the same command to continue with the remaining runs.");
        return status;
    }

    /// <summary>
    /// Runs the TorchSharp work on a thread of its own (DESIGN.md §8), not on a thread of the caller's pool.
    /// </summary>
    private static int OnOwnThread(Func<int> work)
    {
        int result = 0;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try { result = work(); }
            catch (Exception e) { failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
        }) { Name = "experiment", IsBackground = true };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    private static int Train(Plan plan, ExperimentStore store, IReadOnlyList<ExperimentKey> todo, List<ExperimentRow> done,
        TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var optimizer = OptimizerFor(plan.Values);
        var data = DataFor(plan.Values);
        var shared = TrainingFor(plan.Values, todo[0]);
        // libtorch's thread setting is process-wide in effect: set it only when asked, so that the command run inside
        // another process (the tests) leaves that process's setting alone.
        if (shared.Threads > 0 && torch.get_num_threads() != shared.Threads) torch.set_num_threads(shared.Threads);

        var load = Stopwatch.StartNew();
        var splits = DatasetFactory.Load(data);
        var normalization = DatasetFactory.DefaultNormalization(data, splits);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Dataset {data.Dataset}: {splits.Train.Count} training and {splits.Test.Count} test images, {splits.Shape}, {splits.NumClasses} classes ({load.Elapsed.TotalSeconds:F1} s)"));

        int status = ExitCodes.Ok;
        for (int i = 0; i < todo.Count; i++)
        {
            if (cancellation.IsCancellationRequested) return Interrupted;
            var key = todo[i];
            var training = TrainingFor(plan.Values, key);
            var runPath = store.RunDirectory(key);
            if (Directory.Exists(runPath)) Directory.Delete(runPath, recursive: true); // an interrupted attempt

            output.Write(string.Create(CultureInfo.InvariantCulture, $"[{i + 1}/{todo.Count}] {key}: "));
            output.Flush();
            var runPlan = new TrainingPlan(training, data, splits, normalization, optimizer);
            CohortResult result;
            using (var session = RunSession.Create(RunKind.Experiment, runPlan, NullLogger.Instance, Path.GetDirectoryName(runPath)!, key.RunName))
            using (var trainer = new CohortTrainer(runPlan, NullLogger.Instance))
            {
                result = trainer.Run(session.Observer, cancellation);
                session.Finish(result, stoppedOnRequest: cancellation.IsCancellationRequested, resumable: false);
            }

            if (!result.Completed)
            {
                if (cancellation.IsCancellationRequested)
                {
                    output.WriteLine("interrupted");
                    return Interrupted;
                }
                output.WriteLine("failed");
                error.WriteLine($"experiment: run {key} failed: {result.StopReason}; it is not recorded and will be tried again on the next start.");
                status = ExitCodes.Failure;
                continue;
            }
            var row = RowOf(key, training, result);
            store.Append(row, Details(row, result));
            done.Add(row);
            var m = plan.Metrics;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{m.HeadlineTitle}: teacher {row.Teacher:F4}, students {string.Join(" ", row.Students.Select(a => a.ToString("F4", CultureInfo.InvariantCulture)))}, ensemble {row.Ensemble:F4}{(double.IsNaN(row.EnsembleSecond) ? "" : $" ({m.SecondShort} {row.EnsembleSecond:F4})")} ({result.Seconds:F0} s)"));
        }
        return status;
    }

    /// <summary>
    /// The row of a finished run: the final test headline and second score (the task's, <see cref="ExperimentMetrics"/>) of the
    /// teacher, each student (in slot order) and the ensemble, and the ensemble's at the epoch best on val.
    /// </summary>
    public static ExperimentRow RowOf(ExperimentKey key, TrainingOptions training, CohortResult result)
    {
        var metrics = ExperimentMetrics.For(training.Task);
        var final = result.Final ?? throw new InvalidOperationException($"run {key} made no evaluation");
        var teacher = final.Models.Single(m => m.Role == ModelRole.Teacher).Metrics;
        var students = final.Models.Where(m => m.Role == ModelRole.Student).Select(m => m.Metrics).ToList();
        var best = result.BestOnVal;
        return new ExperimentRow(key, training.Epochs, result.Steps, result.Seconds, ExperimentMetrics.HeadlineOf(teacher),
            students.Select(ExperimentMetrics.HeadlineOf).ToList(), ExperimentMetrics.HeadlineOf(final.StudentEnsemble))
        {
            TeacherSecond = metrics.SecondOf(teacher),
            StudentMeanSecond = students.Count == 0 ? double.NaN : students.Average(metrics.SecondOf),
            EnsembleSecond = metrics.SecondOf(final.StudentEnsemble),
            BestEpoch = best is null ? 0 : best.Epoch + 1,
            BestEnsemble = best is null ? double.NaN : ExperimentMetrics.HeadlineOf(best.StudentEnsemble),
            BestEnsembleSecond = metrics.SecondOf(best?.StudentEnsemble),
        };
    }

    private static object Details(ExperimentRow row, CohortResult result) => new
    {
        students = row.Key.Students, temperature = row.Key.Temperature, mode = row.Key.Mode, seed = row.Key.Seed,
        epochs = row.Epochs, steps = row.Steps, seconds = row.Seconds, images_per_second = result.ImagesPerSecond,
        teacher = row.Teacher, student_mean = row.StudentMean, ensemble = row.Ensemble,
        models = result.Final!.Models.Select(m => new { model = m.Id, role = MetricsWriter.Role(m.Role), metrics = m.Metrics.ToDictionary() })
            .Concat(result.Final.StudentEnsemble is null ? [] : [new { model = "student-ensemble", role = "ensemble", metrics = result.Final.StudentEnsemble.ToDictionary() }]),
    };

    /// <summary>
    /// results.md: the settings, per (cohort size, temperature) the tables of the task's metrics and the verdicts on them, and the
    /// sweep when there are several temperatures.
    /// </summary>
    public static string Report(Plan plan, IReadOnlyList<ExperimentRow> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        var t = TrainingFor(plan.Values, ExperimentKey.For(plan.Students[0], plan.Temperatures[0], plan.Modes[0], plan.Seeds[0]));
        var d = DataFor(plan.Values);
        var o = OptimizerFor(plan.Values);
        var metrics = plan.Metrics;
        var groups = ExperimentReport.Aggregate(rows, metrics, plan.Students, plan.Temperatures, plan.Modes, plan.Seeds);
        var sb = new StringBuilder();
        sb.AppendLine("# Experiment: teacher + students, modes compared");
        sb.AppendLine();
        sb.Append(inv, $"- dataset {d.Dataset}{(d.TrainLimit > 0 ? $" (first {d.TrainLimit} training images)" : "")}{(d.TestLimit > 0 ? $" (first {d.TestLimit} test images)" : "")}; ");
        sb.Append(inv, $"teacher {t.TeacherModel}, students {(t.StudentModels.Length > 0 ? string.Join(", ", t.StudentModels) : t.StudentModel)}; {t.Epochs} epoch(s){(t.MaxStepsPerEpoch > 0 ? $" of at most {t.MaxStepsPerEpoch} steps" : "")}, batch {t.BatchSize}; ");
        sb.AppendLine(inv, $"{o.Name.SettingName()} lr {o.LearningRate:R}, {o.Schedule.SettingName()}; w_ce {t.WeightCe:R}, alpha {t.Alpha:R}, beta {t.Beta:R}{(t.RampUpEpochs > 0 ? $", ramped up over {t.RampUpEpochs:R} epochs" : "")}");
        sb.Append(inv, $"- seeds {string.Join(", ", plan.Seeds)}; test {metrics.HeadlineTitle} after the last epoch, mean ± sample std (n − 1) over seeds; ");
        sb.AppendLine(metrics.EnsembleDescription);
        sb.AppendLine("- single-process reference trainer (`p2pdistill-coordinator experiment`); independent runs do not depend on T and appear under every T");
        int missing = plan.Runs().Count(k => rows.All(r => r.Key != k));
        if (missing > 0) sb.AppendLine(string.Create(inv, $"- **incomplete**: {missing} of {plan.Runs().Count} runs are still to do; rerun the command to finish"));
        foreach (var g in groups)
        {
            sb.AppendLine();
            sb.AppendLine($"## {g.Title}");
            sb.AppendLine();
            if (g.Modes.Count == 0)
            {
                sb.AppendLine("No finished runs yet.");
                continue;
            }
            if (ExperimentReport.Caption(g) is { } caption)
            {
                sb.AppendLine(caption);
                sb.AppendLine();
            }
            sb.Append(ExperimentReport.Table(g));
            if (ExperimentReport.SecondTable(g) is { } secondTable)
            {
                sb.AppendLine();
                sb.AppendLine(ExperimentReport.SecondCaption(g));
                sb.AppendLine();
                sb.Append(secondTable);
            }
            sb.AppendLine();
            sb.AppendLine("**Verdict.** " + ExperimentReport.Verdict(g));
            if (g.Modes.Any(m => m.HasSecond))
            {
                sb.AppendLine();
                sb.AppendLine($"**Verdict on {metrics.SecondTitle}.** " + ExperimentReport.SecondVerdict(g));
            }
            sb.AppendLine();
            sb.AppendLine($"![{metrics.Headline}](plots/{ExperimentPlots.FileName(g)})");
        }
        if (plan.Temperatures.Count > 1)
        {
            sb.AppendLine();
            sb.AppendLine("## Temperature sweep");
            sb.AppendLine();
            sb.Append(ExperimentReport.TemperatureSweep(groups));
            foreach (var n in plan.Students) sb.AppendLine(string.Create(inv, $"![sweep](plots/temperature-sweep-s{n}.png)"));
        }
        return sb.ToString();
    }
}
