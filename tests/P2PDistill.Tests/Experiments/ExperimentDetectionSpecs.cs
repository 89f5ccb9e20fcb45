using P2PDistill.Coordinator.Commands;
using P2PDistill.Coordinator.Experiments;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Experiments;

/// <summary>Shared by the detection experiment's tests: det-student as teacher and students on 32×32 synthetic polyps, a few steps per run.</summary>
internal static class DetectionExperimentRuns
{
    public static string[] Tiny(string output, params string[] extra) =>
    [
        "--task", "detection", "--teacher-model", "det-student", "--student-model", "det-student", "--image-size", "32",
        "--Data:SyntheticTrain=32", "--Data:SyntheticTest=16", "--batch-size", "8", "--max-steps", "2", "--output", output, .. extra,
    ];
}

/// <summary><c>experiment --task detection</c> end to end, in process: mAP rows, the report in mAP, the verdict, and continuing.</summary>
[Trait("Category", "Unit")]
public sealed class ExperimentDetectionSpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-experiment-det-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public async Task Should_record_map_per_run_report_it_with_a_verdict_and_skip_the_runs_done()
    {
        var output = Path.Combine(dir, "det");
        string[] args = DetectionExperimentRuns.Tiny(output, "--modes", "kd,kd-ml", "--seeds", "1,2");
        var (code, stdout, stderr) = await ExperimentRuns.Run(args);
        Assert.True(code == (int)ExitCode.Completed, stdout + stderr);
        Assert.Contains("4 run(s), 0 already done, 4 to do", stdout);
        Assert.Contains("Dataset synthetic-detection: 32 training and 16 test images, 3x32x32, 2 classes", stdout);
        Assert.Contains("mAP@0.5: teacher ", stdout);
        Assert.Contains("(mAP@0.5:0.95 ", stdout);

        var csv = File.ReadAllLines(Path.Combine(output, "results.csv"));
        Assert.Equal(ExperimentMetrics.Detection.CsvHeader, csv[0]);
        Assert.StartsWith("students,temperature,mode,seed,epochs,steps,seconds,teacher_map50,student_mean_map50,ensemble_map50,students_map50,teacher_map50_95,", csv[0]);
        var rows = csv[1..].Select(ExperimentRow.FromCsv).ToList();
        Assert.Equal(["kd/1", "kd-ml/1", "kd/2", "kd-ml/2"], rows.Select(r => $"{r.Key.Mode}/{r.Key.Seed}"));
        Assert.All(rows, r => Assert.Equal((2, 2L, 0), (r.Students.Count, r.Steps, r.BestEpoch))); // no validation split
        Assert.All(rows, r => Assert.All(new[] { r.Teacher, r.Ensemble, r.EnsembleSecond, r.StudentMeanSecond }, v => Assert.InRange(v, 0, 1)));
        Assert.All(rows, r => Assert.True(r.EnsembleSecond <= r.Ensemble, "mAP@0.5:0.95 cannot exceed mAP@0.5"));
        var json = File.ReadAllLines(Path.Combine(output, "results.jsonl"));
        Assert.Equal(4, json.Length);
        Assert.Contains("\"map50_95\":", json[0]);
        Assert.Contains("\"task\": \"detection\"", File.ReadAllText(Path.Combine(output, "experiment.json")));

        var report = File.ReadAllText(Path.Combine(output, "results.md"));
        Assert.Contains("- dataset synthetic-detection; teacher det-student, students det-student;", report);
        Assert.Contains("test mAP@0.5 after the last epoch, mean ± sample std (n − 1) over seeds; the student ensemble averages the students' probability maps", report);
        Assert.Contains("Test mAP@0.5 after the last epoch:\n\n| mode | seeds | teacher | student-1 | student-2 | student mean | student ensemble |", report);
        Assert.Contains(MeanStd.Of(rows.Where(r => r.Key.Mode == "kd-ml").Select(r => r.Ensemble).ToArray()).Format(), report);
        Assert.Contains("Test mAP@0.5:0.95 (final). The data set has no validation split", report);
        Assert.Contains("| mode | seeds | teacher mAP@0.5:0.95 | student mean mAP@0.5:0.95 | ensemble mAP@0.5:0.95 |\n", report);
        Assert.DoesNotContain("best epoch on val", report);
        Assert.DoesNotContain("accuracy", report);
        Assert.DoesNotContain("AUC", report);
        Assert.Contains("**Verdict.** teacher + 2 students, T = 1: does kd-ml's student ensemble beat kd's in mAP@0.5?", report);
        Assert.Contains("**Verdict on mAP@0.5:0.95.** teacher + 2 students, T = 1: does kd-ml's student ensemble beat kd's in mAP@0.5:0.95?", report);
        Assert.Contains("paired over 2 seeds", report);
        Assert.Contains("![map50](plots/map50-s2-T1.png)", report);
        var png = File.ReadAllBytes(Path.Combine(output, "plots", "map50-s2-T1.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(File.Exists(Path.Combine(output, "runs", "s2-T1-kd-ml-seed2", "summary.md")));

        // Started again: nothing to train, the same rows, the same report.
        (code, stdout, stderr) = await ExperimentRuns.Run(args);
        Assert.True(code == (int)ExitCode.Completed, stdout + stderr);
        Assert.Contains("4 run(s), 4 already done, 0 to do", stdout);
        Assert.Equal(csv, File.ReadAllLines(Path.Combine(output, "results.csv")));
        Assert.Equal(report, File.ReadAllText(Path.Combine(output, "results.md")));
    }
}

/// <summary>The detection experiment's settings: refused when they change between starts, or when the data set is another task's.</summary>
[Trait("Category", "Fault")]
public sealed class ExperimentDetectionFaultSpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-experiment-det-fault-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("--image-size", "48", "image_size: 32 then, 48 now")]
    [InlineData("--Data:SyntheticTrain=64", null, "synthetic: 32/16/")]
    [InlineData("--Data:SyntheticTest=32", null, "synthetic: 32/16/")]
    [InlineData("--channels", "1", "channels: 3 then, 1 now")]
    public async Task Should_refuse_a_changed_detection_setting_in_the_same_folder(string flag, string? value, string message)
    {
        var output = Path.Combine(dir, "changed");
        // --report-only records the settings without training anything.
        Assert.Equal((int)ExitCode.Completed, (await ExperimentRuns.Run(DetectionExperimentRuns.Tiny(output, "--modes", "kd", "--seeds", "1", "--report-only"))).Code);
        var settings = File.ReadAllText(Path.Combine(output, "experiment.json"));

        string[] changed = value is null ? [flag] : [flag, value];
        var (code, _, error) = await ExperimentRuns.Run(DetectionExperimentRuns.Tiny(output, ["--modes", "kd", "--seeds", "1", .. changed]));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("holds an experiment with other settings", error);
        Assert.Contains(message, error);
        Assert.Equal(settings, File.ReadAllText(Path.Combine(output, "experiment.json")));
        Assert.False(File.Exists(Path.Combine(output, "results.csv")));
    }

    [Fact]
    public async Task Should_refuse_a_classification_experiment_in_a_detection_folder_and_the_reverse()
    {
        var detection = Path.Combine(dir, "det");
        Assert.Equal((int)ExitCode.Completed, (await ExperimentRuns.Run(DetectionExperimentRuns.Tiny(detection, "--modes", "kd", "--report-only"))).Code);
        var (code, _, error) = await ExperimentRuns.Run(ExperimentRuns.Tiny(detection, "--modes", "kd", "--report-only"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("task: detection then, classification now", error);

        var classification = Path.Combine(dir, "cls");
        Assert.Equal((int)ExitCode.Completed, (await ExperimentRuns.Run(ExperimentRuns.Tiny(classification, "--modes", "kd", "--report-only"))).Code);
        (code, _, error) = await ExperimentRuns.Run(DetectionExperimentRuns.Tiny(classification, "--modes", "kd", "--report-only"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("task: classification then, detection now", error);
    }

    [Theory]
    [InlineData("--task", "detection", "--dataset", "synthetic", "--dataset synthetic is a classification data set, and --task detection needs boxes")]
    [InlineData("--task", "classification", "--dataset", "synthetic-detection", "--dataset synthetic-detection is a detection data set: add --task detection")]
    public async Task Should_refuse_a_data_set_of_the_other_task_before_writing_anything(string f1, string v1, string f2, string v2, string message)
    {
        var output = Path.Combine(dir, "other-task");
        var (code, _, error) = await ExperimentRuns.Run([f1, v1, f2, v2, "--modes", "kd", "--output", output]);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains(message, error);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void Should_refuse_to_read_another_tasks_results()
    {
        var output = Path.Combine(dir, "foreign");
        Directory.CreateDirectory(output);
        File.WriteAllLines(Path.Combine(output, "results.csv"), [ExperimentMetrics.Detection.CsvHeader, "2,1,kd,1,1,2,1.0,0.1,0.1,0.1,0.1;0.1,0.05,0.05,0.05,0,NaN,NaN"]);

        var e = Assert.Throws<InvalidDataException>(() => new ExperimentStore(output, ExperimentMetrics.Classification).Load());

        Assert.Contains("holds mAP@0.5 rows, and this experiment records accuracy", e.Message);
        Assert.Single(new ExperimentStore(output, ExperimentMetrics.Detection).Load());
    }
}

/// <summary>The task's metrics in rows and report: read through IModelMetrics, named in headings; classification's report unchanged.</summary>
[Trait("Category", "Unit")]
public sealed class ExperimentMetricsSpecs
{
    private static DetectionMetrics Map(double map50, double map) => new(map50, map, [], 10, 10, 4, null);

    private static ExperimentRow Row(string mode, long seed, double map50, double map) =>
        new(new ExperimentKey(2, 1, mode, seed), 3, 30, 1, 0.5, [map50 - 0.02, map50 - 0.01], map50)
        {
            TeacherSecond = 0.3, StudentMeanSecond = map - 0.01, EnsembleSecond = map,
        };

    [Fact]
    public void Should_name_the_metrics_as_the_tasks_metrics_do()
    {
        var detection = Map(0.5, 0.3);
        Assert.Equal(detection.HeadlineName, ExperimentMetrics.Detection.HeadlineTitle);
        Assert.Equal(detection.ScoreName, ExperimentMetrics.Detection.SecondTitle);
        Assert.Contains(detection.Columns, c => (c.Name, c.Title) == (ExperimentMetrics.Detection.Headline, ExperimentMetrics.Detection.HeadlineTitle));
        Assert.Contains(detection.Columns, c => (c.Name, c.Title) == (ExperimentMetrics.Detection.Second, ExperimentMetrics.Detection.SecondTitle));

        var twoClasses = new ClassificationMetrics(0.8, 0.8, [0.8, 0.8], [0.8, 0.8], [0.8, 0.8], [[1, 0], [0, 1]], 2, 2, 0.5, 0.9, 0.8, 0.8);
        Assert.Equal(twoClasses.HeadlineName, ExperimentMetrics.Classification.HeadlineTitle);
        Assert.Equal(twoClasses.ScoreName, ExperimentMetrics.Classification.SecondTitle);
        Assert.Contains(twoClasses.Columns, c => (c.Name, c.Title) == (ExperimentMetrics.Classification.Second, ExperimentMetrics.Classification.SecondTitle));
        Assert.Equal((0.8, 0.9), (ExperimentMetrics.HeadlineOf(twoClasses), ExperimentMetrics.Classification.SecondOf(twoClasses)));
        Assert.True(double.IsNaN(ExperimentMetrics.Classification.SecondOf(twoClasses with { RocAuc = null })));

        Assert.Same(ExperimentMetrics.Detection, ExperimentMetrics.For(TaskKind.Detection));
        Assert.Same(ExperimentMetrics.Classification, ExperimentMetrics.For(TaskKind.Classification));
        Assert.Equal(ExperimentRow.Columns, ExperimentMetrics.Detection.CsvHeader.Split(',').Length);
        Assert.Equal(ExperimentRow.Columns, ExperimentMetrics.Classification.CsvHeader.Split(',').Length);
    }

    [Fact]
    public void Should_take_map50_and_map50_95_from_a_detection_run()
    {
        static ModelEvalRecord M(string id, ModelRole role, double map50, double map) => new(id, role, Map(map50, map));
        var final = new EvalRecord(1, 20, [M("teacher", ModelRole.Teacher, 0.6, 0.35), M("student-1", ModelRole.Student, 0.4, 0.2), M("student-2", ModelRole.Student, 0.5, 0.3)],
            Map(0.55, 0.32));
        var result = new CohortResult([final], 20, 1, 1, true, null);

        var row = ExperimentCommand.RowOf(new ExperimentKey(2, 1, "kd-ml", 1), new() { Task = TaskKind.Detection, Epochs = 2 }, result);

        Assert.Equal((0.6, 0.55, 0.45), (row.Teacher, row.Ensemble, row.StudentMean));
        Assert.Equal([0.4, 0.5], row.Students);
        Assert.Equal((0.35, 0.32), (row.TeacherSecond, row.EnsembleSecond));
        Assert.Equal(0.25, row.StudentMeanSecond, 12);
        Assert.Equal(0, row.BestEpoch); // no validation split
        Assert.True(double.IsNaN(row.BestEnsemble));

        // A test split without ground truth has no mAP: NaN in the row, "–" in the report.
        var empty = ExperimentCommand.RowOf(new ExperimentKey(2, 1, "kd", 1), new() { Task = TaskKind.Detection },
            new CohortResult([new EvalRecord(0, 1, [new("teacher", ModelRole.Teacher, new DetectionMetrics(null, null, [], 0, 0, 4, null))], null)], 1, 1, 1, true, null));
        Assert.True(double.IsNaN(empty.Teacher) && double.IsNaN(empty.TeacherSecond) && double.IsNaN(empty.Ensemble));
    }

    [Fact]
    public void Should_write_the_detection_tables_and_verdicts_in_map()
    {
        var rows = new[] { 1L, 2, 3 }.SelectMany(s => new[]
        {
            Row("kd", s, 0.40 + 0.001 * s, 0.20), Row("ml", s, 0.41 + 0.001 * s, 0.21), Row("kd-ml", s, 0.43 + 0.001 * s + (s == 2 ? 0.002 : 0), 0.22 + 0.001 * s),
        });
        var groups = ExperimentReport.Aggregate(rows, ExperimentMetrics.Detection, [2], [1, 4], ["kd", "ml", "kd-ml"], [1, 2, 3]);
        var g = groups[0];

        Assert.Equal("Test mAP@0.5 after the last epoch:", ExperimentReport.Caption(g));
        Assert.False(g.HasVal);
        Assert.Equal("Test mAP@0.5:0.95 (final). The data set has no validation split, so no epoch is chosen on it and only final figures are reported:",
            ExperimentReport.SecondCaption(g));
        var table = ExperimentReport.SecondTable(g)!.Split('\n');
        Assert.Equal("| mode | seeds | teacher mAP@0.5:0.95 | student mean mAP@0.5:0.95 | ensemble mAP@0.5:0.95 |", table[0]);
        Assert.Equal("|---|---|---|---|---|", table[1]);
        Assert.Equal("| kd-ml | 3 | 0.3000 ± 0.0000 | 0.2120 ± 0.0010 | **0.2220 ± 0.0010** |", table[4]);

        var verdict = ExperimentReport.Verdict(g);
        Assert.Contains("does kd-ml's student ensemble beat kd's and ml's in mAP@0.5? yes, significantly", verdict);
        Assert.Contains("beats kd's by 3.07 points (0.4327 vs 0.4020;", verdict);
        Assert.Contains("beat kd's and ml's in mAP@0.5:0.95? yes, significantly", ExperimentReport.SecondVerdict(g));
        Assert.StartsWith("Student ensemble's test mAP@0.5, teacher + 2 students:", ExperimentReport.TemperatureSweep(groups));
        Assert.Equal("map50-s2-T1.png", ExperimentPlots.FileName(g));
    }

    [Fact]
    public void Should_keep_classifications_words()
    {
        var g = ExperimentReport.Aggregate([Row("kd", 1, 0.8, 0.9), Row("kd-ml", 1, 0.85, 0.92) with { BestEpoch = 2, BestEnsemble = 0.84, BestEnsembleSecond = 0.91 }],
            ExperimentMetrics.Classification, [2], [1], ["kd", "kd-ml"], [1]).Single();

        Assert.Null(ExperimentReport.Caption(g));
        Assert.Equal("Test ROC-AUC (final), and the ensemble at the epoch best on the validation split:", ExperimentReport.SecondCaption(g));
        Assert.StartsWith("| mode | seeds | teacher AUC | student mean AUC | ensemble AUC | ensemble accuracy, best epoch on val | ensemble AUC, best epoch on val |",
            ExperimentReport.SecondTable(g));
        Assert.Contains("does kd-ml's student ensemble beat kd's? yes on the mean", ExperimentReport.Verdict(g));
        Assert.StartsWith("Student ensemble, teacher + 2 students:", ExperimentReport.TemperatureSweep([g]));
        Assert.Equal("accuracy-s2-T1.png", ExperimentPlots.FileName(g));
    }
}
