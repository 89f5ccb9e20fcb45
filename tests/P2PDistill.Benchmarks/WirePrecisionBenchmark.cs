using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Benchmarks.Support;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
using P2PDistill.Shared.Training;
using static TorchSharp.torch;

namespace P2PDistill.Benchmarks;

/// <summary>
/// Would a half-precision wire pay (issue 13)? Trains the same cohort single-process twice per seed: once as the float32 wire
/// carries it, once with every model output and every distillation target rounded to IEEE half precision, as a float16
/// wire would carry them (batches stay uint8, losses and weights stay float32). Reports the final test metrics of both
/// and the bytes a float16 wire would save per step.
/// </summary>
public static class WirePrecisionBenchmark
{
    public static BenchOptions Options() => new BenchOptions()
        .Declare("task", "detection", "classification or detection")
        .Declare("dataset", "synthetic-detection", "dataset (synthetic-detection, synthetic, fashion-mnist, ...)")
        .Declare("teacher-model", "det-teacher", "teacher architecture")
        .Declare("student-model", "det-student", "student architecture")
        .Declare("students", "2", "students in the cohort")
        .Declare("mode", "kd-ml", "independent, kd, ml or kd-ml")
        .Declare("epochs", "4", "training epochs")
        .Declare("batch-size", "32", "images per step")
        .Declare("train", "4096", "synthetic training images")
        .Declare("test", "512", "synthetic test images")
        .Declare("seeds", "1,2", "run seeds; each trains float32 then float16")
        .Declare("threads", "1", "TorchSharp threads (1: steady on a shared machine; 0: libtorch's default, one per core)")
        .Declare("results", Path.Combine("runs", "benchmarks"), "results folder (the Markdown report)");

    public static int Run(BenchOptions o, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        if (o.Int("threads") > 0) TorchSharp.torch.set_num_threads(o.Int("threads"));
        var data = new DataOptions
        {
            Task = o["task"] is "detection" or "det" ? TaskKind.Detection : TaskKind.Classification, Dataset = o["dataset"], SyntheticTrain = o.Int("train"), SyntheticTest = o.Int("test"),
        };
        var splits = DatasetFactory.Load(data);
        var normalization = DatasetFactory.DefaultNormalization(data, splits);
        var rows = new List<(long Seed, string Wire, IReadOnlyList<(string Id, double Headline, double Score)> Models, double Seconds)>();
        string headline = "", score = "";
        foreach (var seed in o.Strings("seeds").Select(s => long.Parse(s, inv)))
            foreach (var half in new[] { false, true })
            {
                var training = new TrainingOptions
                {
                    Task = data.Task, Students = o.Int("students"), Mode = DistillModes.Parse(o["mode"]), Seed = seed,
                    Epochs = o.Int("epochs"), BatchSize = o.Int("batch-size"), TeacherModel = o["teacher-model"], StudentModel = o["student-model"],
                    CheckpointEverySteps = 0,
                };
                var plan = new TrainingPlan(training, data, splits, normalization, new OptimizerOptions());
                if (half) plan = new TrainingPlan(training, data, splits, normalization, new OptimizerOptions()) { Task = new HalfWire(plan.Task) };
                var clock = System.Diagnostics.Stopwatch.StartNew();
                using var trainer = new CohortTrainer(plan, NullLogger.Instance);
                var result = trainer.Run();
                var final = result.Final ?? throw new InvalidOperationException("the run made no evaluation");
                var models = final.Models.Select(m => (Id: m.Id, Headline: m.Metrics.Headline, Score: m.Metrics.Score))
                    .Append((Id: "student-ensemble", Headline: final.StudentEnsemble!.Headline, Score: final.StudentEnsemble.Score)).ToList();
                headline = final.StudentEnsemble!.HeadlineName;
                score = final.StudentEnsemble.ScoreName;
                rows.Add((seed, half ? "float16" : "float32", models, clock.Elapsed.TotalSeconds));
                output.WriteLine(string.Create(inv, $"seed {seed} {(half ? "float16" : "float32")}: ") +
                    string.Join(", ", models.Select(m => string.Create(inv, $"{m.Id} {m.Headline:F4}/{m.Score:F4}"))) + string.Create(inv, $" ({clock.Elapsed.TotalSeconds:F0} s)"));
            }

        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# Wire precision: float32 against float16 outputs and targets ({o["task"]})");
        sb.AppendLine();
        sb.AppendLine(inv, $"- {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {CohortRunner.Machine()}");
        sb.AppendLine(inv, $"- teacher {o["teacher-model"]} + {o["students"]} x {o["student-model"]}, {o["dataset"]} ({splits.Train.Count} train / {splits.Test.Count} test, {splits.Shape}), " +
                           $"mode {o["mode"]}, {o["epochs"]} epoch(s), batch {o["batch-size"]}, single-process; float16: every output and target rounded to half precision");
        sb.AppendLine(inv, $"- cells: final test {headline} / {score}");
        sb.AppendLine();
        var ids = rows[0].Models.Select(m => m.Id).ToList();
        sb.AppendLine("| seed | wire | " + string.Join(" | ", ids) + " | seconds |");
        sb.AppendLine("|---|---|" + string.Concat(ids.Select(_ => "---|")) + "---|");
        foreach (var r in rows)
            sb.AppendLine(string.Create(inv, $"| {r.Seed} | {r.Wire} | ") + string.Join(" | ", r.Models.Select(m => string.Create(inv, $"{m.Headline:F4} / {m.Score:F4}"))) +
                          string.Create(inv, $" | {r.Seconds:F0} |"));
        sb.AppendLine();
        var deltas = rows.GroupBy(r => r.Seed).Where(g => g.Count() == 2)
            .Select(g => g.Single(r => r.Wire == "float16").Models[^1].Headline - g.Single(r => r.Wire == "float32").Models[^1].Headline).ToList();
        if (deltas.Count > 0)
            sb.AppendLine(string.Create(inv, $"Student ensemble {headline}, float16 − float32 per seed: {string.Join(", ", deltas.Select(d => d.ToString("+0.0000;-0.0000", inv)))}."));
        var report = sb.ToString();
        var folder = Path.GetFullPath(o["results"]);
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, $"wire-precision-{DateTime.UtcNow:yyyyMMdd-HHmmss}.md");
        File.WriteAllText(path, report);
        output.WriteLine();
        output.WriteLine(report);
        output.WriteLine($"Written to {path}");
        return 0;
    }

    /// <summary>The task, with the step's outputs and targets rounded to half precision where they would cross the wire.</summary>
    private sealed class HalfWire(ITrainingTask inner) : ITrainingTask
    {
        public TaskKind Kind => inner.Kind;
        public int OutputsPerImage => inner.OutputsPerImage;
        public IReadOnlyList<string> MetricColumns => inner.MetricColumns;
        public Shared.Metrics.IModelMetrics MetricsLayout(int images) => inner.MetricsLayout(images);

        public ImageBatch Batch(IImageDataset split, ReadOnlySpan<int> indices, AugmentOptions augment, int seed, int epoch, int step) =>
            inner.Batch(split, indices, augment, seed, epoch, step);

        public LossTensors TeacherLoss(Tensor output, ImageBatch batch) => inner.TeacherLoss(output, batch);

        public LossTensors StudentLoss(Tensor output, ImageBatch batch, DistillationSettings settings, DistillTargets targets) =>
            inner.StudentLoss(output, batch, settings, targets);

        public double BatchScore(Tensor output, ImageBatch batch) => inner.BatchScore(output, batch);

        public DistillTargets[] Targets(float[]? teacherOutput, IReadOnlyList<float[]> studentOutputs, int batch, DistillationSettings settings) =>
            inner.Targets(Round(teacherOutput), studentOutputs.Select(s => Round(s)!).ToList(), batch, settings)
                .Select(t => t with { TeacherLogits = Round(t.TeacherLogits), PeerProbSum = Round(t.PeerProbSum), PeerNegEntropySum = Round(t.PeerNegEntropySum) })
                .ToArray();

        public float[] Predictions(Tensor output) => inner.Predictions(output);
        public long? BoxFloatsBound(IImageDataset split, int batch) => inner.BoxFloatsBound(split, batch);
        public long TargetFloatsBound(int batch) => inner.TargetFloatsBound(batch);

        public EvalRecord Evaluate(int epoch, long globalStep, IReadOnlyList<(string Id, ModelRole Role, float[] Predictions)> models, IImageDataset split) =>
            inner.Evaluate(epoch, globalStep, models, split);

        private static float[]? Round(float[]? values) => values is null ? null : Array.ConvertAll(values, v => (float)(Half)v);
    }
}
