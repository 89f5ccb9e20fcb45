using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Runs;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Data;

/// <summary>
/// A data set with a validation split (MedMNIST): every runner evaluates it beside the test split, the metrics files keep both,
/// and the summary reports the epoch that is best on val.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ValidationSplitSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static DataOptions Pneumonia(DataMode mode = DataMode.Ship) => new() { Dataset = "pneumoniamnist", TrainLimit = 192, TestLimit = 48, Mode = mode };

    private static TrainingPlan Plan(DataOptions data, int epochs = 2) =>
        new(TestCohorts.Options(epochs: epochs), data, DatasetFactory.Load(data), Normalization.Identity(1), new OptimizerOptions { LearningRate = 1e-2 });

    [Fact]
    public void Should_predict_test_then_val_and_split_the_predictions_back()
    {
        var plan = Plan(Pneumonia());
        Assert.Equal(2 + 2, plan.EvaluationBatchCount); // 48 test + 48 val images in batches of 32
        Assert.Equal(96, plan.EvaluationBatches().Sum(b => b.Count));

        // Right on every test image, wrong on every val image.
        int Label(IImageDataset d, int i) => d.Label(i);
        var probabilities = new List<float>();
        for (int i = 0; i < 48; i++) probabilities.AddRange(Label(plan.Splits.Test, i) == 1 ? [0f, 1f] : [1f, 0f]);
        for (int i = 0; i < 48; i++) probabilities.AddRange(Label(plan.Splits.Val!, i) == 1 ? [1f, 0f] : [0f, 1f]);

        var e = plan.EvaluationOf(0, 10, [("teacher", ModelRole.Teacher, probabilities.ToArray())]);

        Assert.Equal(1.0, e.Models[0].Metrics.Headline);
        Assert.Equal(48, e.Models[0].Metrics.Count);
        Assert.Equal(0.0, e.Val!.Models[0].Metrics.Headline);
        Assert.Equal(48, e.Val.Models[0].Metrics.Count);
    }

    [Fact]
    public void Should_evaluate_no_val_split_for_a_data_set_without_one()
    {
        var plan = Plan(TestCohorts.SyntheticData(train: 64, test: 40));

        using var trainer = new CohortTrainer(plan, NullLogger.Instance);
        var e = trainer.Evaluate(0, 0);

        Assert.Null(e.Val);
        Assert.Equal(2, plan.EvaluationBatchCount);
    }

    [Theory]
    [InlineData(DataMode.Ship)]
    [InlineData(DataMode.Local)]
    public async Task Should_give_the_same_val_metrics_in_the_embedded_cluster_as_in_the_single_process_loop(DataMode mode)
    {
        var plan = Plan(Pneumonia(mode));
        var reference = new Recorder();
        using (var cohort = new CohortTrainer(plan, NullLogger.Instance)) cohort.Run(reference);

        var (result, recorder) = await TestCohorts.RunEmbedded(plan, "tiny", "tiny", "tiny");

        Assert.True(result.Completed, result.StopReason);
        Assert.Equal(2, recorder.Evaluations.Count);
        for (int i = 0; i < 2; i++)
        {
            var (expected, actual) = (reference.Evaluations[i].Val!, recorder.Evaluations[i].Val!);
            Assert.Equal(48, actual.StudentEnsemble!.Count);
            Assert.Equal(expected.StudentEnsemble!.Headline, actual.StudentEnsemble.Headline, 1e-9);
            Assert.Equal(expected.StudentEnsemble.ToDictionary()["auc"], actual.StudentEnsemble.ToDictionary()["auc"], 1e-6);
            Assert.Equal(expected.Models.Select(m => m.Id), actual.Models.Select(m => m.Id));
        }
    }

    [Fact]
    public void Should_write_a_row_per_model_and_split_in_the_metrics_files()
    {
        var plan = Plan(Pneumonia(), epochs: 1);
        using (var metrics = new MetricsWriter(dir.Path))
        using (var trainer = new CohortTrainer(plan, NullLogger.Instance))
            trainer.Run(metrics);

        var rows = File.ReadAllLines(Path.Combine(dir.Path, "metrics", "eval.csv"));
        Assert.Equal(MetricsWriter.EvalCsvHeader, rows[0]);
        Assert.Equal(4, rows.Count(r => r.EndsWith(",test", StringComparison.Ordinal))); // teacher, 2 students, ensemble
        Assert.Equal(4, rows.Count(r => r.EndsWith(",val", StringComparison.Ordinal)));
        var json = File.ReadAllLines(Path.Combine(dir.Path, "metrics", "eval.jsonl"));
        Assert.Equal(["test", "val"], json.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("split").GetString()));
    }

    private static ClassificationMetrics Metrics(double auc) =>
        new(0.5, 0.5, [0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [[1, 1], [1, 1]], 4, 2, 0.7, auc, 0.5, 0.5);

    private static EvalRecord Epoch(int epoch, double testAuc, double valAuc) =>
        new EvalRecord(epoch, epoch * 10L, [new ModelEvalRecord("teacher", ModelRole.Teacher, Metrics(testAuc))], Metrics(testAuc))
        {
            Val = new EvalRecord(epoch, epoch * 10L, [new ModelEvalRecord("teacher", ModelRole.Teacher, Metrics(valAuc))], Metrics(valAuc)),
        };

    [Fact]
    public void Should_report_the_test_metrics_of_the_epoch_best_on_val_beside_the_final_ones()
    {
        var result = new CohortResult([Epoch(0, 0.61, 0.70), Epoch(1, 0.62, 0.90), Epoch(2, 0.63, 0.90), Epoch(3, 0.64, 0.80)], 40, 1, 1, true, null);

        Assert.Equal(1, result.BestOnVal!.Epoch); // the earliest of the tied best
        var summary = Summary.Markdown(result, TestCohorts.Options(), "pneumoniamnist");

        Assert.Contains("Test metrics after epoch 4:", summary);
        Assert.Contains("Best epoch on the validation split: 2 (student-ensemble ROC-AUC 0.9000 on val). Test metrics at that epoch:", summary);
        var best = summary[summary.IndexOf("Best epoch", StringComparison.Ordinal)..];
        Assert.Contains("| student-ensemble | 0.5000 | 0.5000 | 0.6200 |", best);
    }

    [Fact]
    public void Should_not_mention_val_for_a_data_set_without_it()
    {
        var result = new CohortResult([new EvalRecord(0, 10, [new ModelEvalRecord("teacher", ModelRole.Teacher, Metrics(0.6))], null)], 10, 1, 1, true, null);

        Assert.Null(result.BestOnVal);
        Assert.DoesNotContain("validation", Summary.Markdown(result, TestCohorts.Options(), "synthetic"));
    }
}
