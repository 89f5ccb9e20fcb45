using P2PDistill.Shared.Hosting;
using System.Globalization;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.Export;

[Trait("Category", "Unit")]
public sealed class EvaluateCommandSpecs(TrainedExports exports) : IClassFixture<TrainedExports>
{
    private static Task<(int Code, string Out, string Err)> Evaluate(params string[] args) => ExportTestSupport.Run(EvaluateCommand.RunAsync, args);

    private static string Row(string output, string start) =>
        output.Split('\n').Single(l => l.StartsWith(start, StringComparison.Ordinal));

    private static string F4(double value) => value.ToString("F4", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Should_reproduce_the_accuracy_the_model_had()
    {
        var labels = ExportTestSupport.Labels(exports.Data.Test);
        double expected = ExportTestSupport.Accuracy(ExportTestSupport.Probabilities(exports.Tiny, exports.Data.Test), labels, 4);
        Assert.InRange(expected, 0.3, 0.99); // trained one step only: a wrong model would not score the same by chance

        var (code, output, error) = await Evaluate(["--model", exports.TinyExport.CardPath, .. ExportTestSupport.SyntheticArgs()]);

        Assert.True(code == 0, error);
        Assert.Contains("128 images, 4 classes", output);
        var row = Row(output, "| student-tiny | tiny | tiny.json |");
        Assert.Contains($"| {F4(expected)} |", row);
        Assert.DoesNotContain("ensemble", output);
        Assert.DoesNotContain("ROC-AUC", output);
    }

    [Fact]
    public async Task Should_score_each_model_and_their_ensemble_mean()
    {
        var labels = ExportTestSupport.Labels(exports.Data.Test);
        var tiny = ExportTestSupport.Probabilities(exports.Tiny, exports.Data.Test);
        var student = ExportTestSupport.Probabilities(exports.Student, exports.Data.Test);
        var mean = tiny.Select((p, i) => (float)((p + (double)student[i]) / 2)).ToArray();

        var (code, output, error) = await Evaluate(["--model", exports.TinyExport.CardPath, "--model", exports.StudentExport.CardPath,
            "--batch-size", "50", .. ExportTestSupport.SyntheticArgs()]);

        Assert.True(code == 0, error);
        Assert.Contains($"| {F4(ExportTestSupport.Accuracy(tiny, labels, 4))} |", Row(output, "| student-tiny | tiny |"));
        Assert.Contains($"| {F4(ExportTestSupport.Accuracy(student, labels, 4))} |", Row(output, "| student-cnn-student |"));
        var ensemble = Row(output, "| ensemble of 2 |");
        Assert.Contains($"| {F4(ExportTestSupport.Accuracy(mean, labels, 4))} |", ensemble);
        Assert.Contains($"| {F4(MetricsCalculator.Compute(mean, 4, labels).MacroF1)} |", ensemble);
    }

    [Fact]
    public async Task Should_add_roc_auc_sensitivity_and_specificity_for_two_classes()
    {
        var binary = ExportTestSupport.Data(classes: 2);
        using var trainer = ExportTestSupport.Train("tiny", binary, seed: 41);
        using var dir = new TempDirectory();
        var export = ModelExporter.Export(trainer.Network, ExportTestSupport.Card(trainer, binary), dir.Path, "binary");
        var expected = MetricsCalculator.Compute(ExportTestSupport.Probabilities(trainer, binary.Test), 2, ExportTestSupport.Labels(binary.Test));

        // The dataset defaults to the card's (synthetic) and its class count to the card's.
        var (code, output, error) = await Evaluate("--model", export.CardPath, "--seed", "3", "--Data:SyntheticTrain=512", "--Data:SyntheticTest=128");

        Assert.True(code == 0, error);
        Assert.Contains("| ROC-AUC | sensitivity | specificity |", output);
        Assert.Contains($"| {F4(expected.Accuracy)} | {F4(expected.MacroF1)} | {F4(expected.Nll)} | {F4(expected.RocAuc!.Value)} | " +
                        $"{F4(expected.Sensitivity!.Value)} | {F4(expected.Specificity!.Value)} |", Row(output, "| student-tiny |"));
    }

    [Fact]
    public async Task Should_honour_the_test_limit()
    {
        var (code, output, error) = await Evaluate(["--model", exports.TinyExport.CardPath, "--test-limit", "20", .. ExportTestSupport.SyntheticArgs()]);

        Assert.True(code == 0, error);
        Assert.Contains("20 images, 4 classes", output);
    }

    [Fact]
    public void Should_keep_every_value_of_a_repeated_model_option_in_order()
    {
        var parsed = EvaluateCommand.Create().Parse(["--model", "a.json", "--dataset", "mnist", "--model=b.json", "--model", "c.json"]);

        Assert.Equal("a.json", parsed.Values["Evaluate:Models:0"]);
        Assert.Equal("b.json", parsed.Values["Evaluate:Models:1"]);
        Assert.Equal("c.json", parsed.Values["Evaluate:Models:2"]);
        Assert.Equal("mnist", parsed.Values["Data:Dataset"]);
        Assert.False(parsed.Values.ContainsKey("Evaluate:Models"));
    }

    [Fact]
    public async Task Should_print_help_and_exit_0()
    {
        var (code, output, _) = await Evaluate("--help");

        Assert.Equal((int)ExitCode.Completed, code);
        Assert.Contains("--model", output);
        Assert.Contains("(repeatable)", output);
        Assert.Contains("--test-limit", output);
    }
}
