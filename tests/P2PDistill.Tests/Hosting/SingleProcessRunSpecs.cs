using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Hosting;

/// <summary>The coordinator executable's --single-process run, as a real process writing a real run directory.</summary>
[Trait("Category", "MultiProcess")]
[Collection(ProcessTests.Name)]
public sealed class SingleProcessRunSpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-run-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Should_train_and_write_a_complete_run_directory()
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Synthetic(train: 256, test: 64).Models("tiny", "tiny").Students(3)
            .Epochs(2).BatchSize(32).MaxSteps(6).Output(dir, "t"), dir, TimeSpan.FromMinutes(3));
        Assert.True(r.ExitCode == (int)ExitCode.Completed, r.Output);
        var run = Path.Combine(dir, "t");
        foreach (var f in new[] { "config.json", "summary.md", "metrics/steps.csv", "metrics/steps.jsonl", "metrics/eval.csv", "metrics/eval.jsonl",
                     "plots/loss.png", "plots/accuracy.png", "models/teacher.dat", "models/student-1.dat", "models/student-3.dat" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"missing {f}");
        foreach (var png in new[] { "plots/loss.png", "plots/accuracy.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(run, png));
            Assert.True(bytes.Length > 5000, $"{png} is only {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
        var events = Directory.GetFiles(Path.Combine(run, "tensorboard"), "events.out.tfevents.*");
        Assert.Single(events);
        Assert.True(new FileInfo(events[0]).Length > 1000, "the TensorBoard event file holds the scalars");

        var files = new RunFiles(run);
        Assert.Equal(2 * 6 * 4, files.Steps().Count); // 2 epochs x 6 steps x (teacher + 3 students), under the header checked
        Assert.Equal(12, files.StepLog().Count);
        var eval = files.Evaluations();
        Assert.Equal(2 * 5, eval.Count); // 2 evaluations x (4 models + ensemble)
        Assert.Contains(eval, e => e is { Model: "student-ensemble", Role: "ensemble" });
        Assert.Contains("| student-ensemble |", File.ReadAllText(Path.Combine(run, "summary.md")));
        Assert.Contains("| student-ensemble |", r.Stdout);

        // Exported models: safetensors and model cards; `evaluate` on the exported students reproduces the run's figures.
        var cards = new[] { "student-1", "student-2", "student-3" }.Select(id => Path.Combine(run, "models", id + ".json")).ToArray();
        foreach (var id in new[] { "teacher", "student-1", "student-2", "student-3" })
            foreach (var ext in new[] { ".dat", ".safetensors", ".json" })
                Assert.True(File.Exists(Path.Combine(run, "models", id + ext)), $"missing models/{id}{ext}");
        var evaluation = RunningProcess.Run(NodeArgs.Coordinator("evaluate").With(cards.SelectMany(c => new[] { "--model", c }))
            .Config("Data:SyntheticTrain", 256).Config("Data:SyntheticTest", 64), dir, TimeSpan.FromMinutes(2));
        Assert.True(evaluation.ExitCode == (int)ExitCode.Completed, evaluation.Output);
        var finalEval = eval.Skip(eval.Count - 5).ToDictionary(e => e.Model, e => e.Accuracy);
        foreach (var id in new[] { "student-1", "student-2", "student-3" })
            Assert.Contains($"| {id} |", evaluation.Stdout);
        var ensembleRow = evaluation.Stdout.Split('\n').Single(l => l.StartsWith("| ensemble", StringComparison.Ordinal) || l.StartsWith("| student-ensemble", StringComparison.Ordinal));
        Assert.Contains(finalEval["student-ensemble"].ToString("F4", System.Globalization.CultureInfo.InvariantCulture), ensembleRow);

        // ONNX: every model, the students' ensemble as one graph, and the compression report (also in summary.md); ONNX Runtime
        // scores the ensemble file as the run did.
        foreach (var id in new[] { "teacher", "student-1", "student-2", "student-3", "ensemble" })
            Assert.True(File.Exists(Path.Combine(run, "models", id + ".onnx")), $"missing models/{id}.onnx");
        var compression = File.ReadAllText(Path.Combine(run, "models", "compression.md"));
        foreach (var id in new[] { "teacher", "student-1", "student-2", "student-3", "student-ensemble" })
            Assert.Contains($"| {id} |", compression);
        Assert.Contains("| model | architecture | parameters | ONNX file | MACs/image | ms/image, batch 1 | ms/image, batch 32 | accuracy |", compression);
        Assert.Contains("## Compression", File.ReadAllText(Path.Combine(run, "summary.md")));
        var onnx = RunningProcess.Run(NodeArgs.Coordinator("evaluate").With("--model", Path.Combine(run, "models", "ensemble.onnx"))
            .Config("Data:SyntheticTrain", 256).Config("Data:SyntheticTest", 64), dir, TimeSpan.FromMinutes(2));
        Assert.True(onnx.ExitCode == (int)ExitCode.Completed, onnx.Output);
        var onnxRow = onnx.Stdout.Split('\n').Single(l => l.StartsWith("| ensemble | ensemble of 3 tiny (ONNX Runtime) |", StringComparison.Ordinal));
        Assert.Contains(finalEval["student-ensemble"].ToString("F4", System.Globalization.CultureInfo.InvariantCulture), onnxRow);
    }

    [Fact]
    public void Should_train_a_mixed_cohort_given_by_student_models_and_a_two_class_set_with_val_and_roc()
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Models("tiny", "tiny").Students(3).Epochs(2).BatchSize(32).MaxSteps(3)
            .With("--dataset", "pneumoniamnist", "--train-limit", "128", "--test-limit", "64", "--student-models", "tiny,mlp", "--rampup-epochs", "1")
            .Output(dir, "mixed"), dir, TimeSpan.FromMinutes(3));
        Assert.True(r.ExitCode == (int)ExitCode.Completed, r.Output);
        var run = Path.Combine(dir, "mixed");

        var cards = new[] { "student-1", "student-2", "student-3" }.Select(id => File.ReadAllText(Path.Combine(run, "models", id + ".json"))).ToArray();
        Assert.Contains("\"tiny\"", cards[0]);
        Assert.Contains("\"mlp\"", cards[1]);
        Assert.Contains("\"tiny\"", cards[2]); // the list repeats over the students
        var summary = File.ReadAllText(Path.Combine(run, "summary.md"));
        Assert.Contains("teacher tiny, tiny, mlp, tiny; mode kd-ml", summary);
        Assert.Contains("alpha and beta ramped up over 1 epochs", summary);
        Assert.Contains("| model | accuracy | macro-F1 | ROC-AUC | sensitivity | specificity |", summary);
        // Two classes: the compression report gives ROC-AUC beside accuracy, with the mixed cohort's architectures.
        var compression = File.ReadAllText(Path.Combine(run, "models", "compression.md"));
        Assert.Contains("| accuracy | ROC-AUC |", compression);
        Assert.Contains("| student-2 | mlp |", compression);
        Assert.Contains("| student-ensemble | 3 × tiny, mlp |", compression);
        Assert.Contains("Best epoch on the validation split:", summary);
        Assert.Equal(2 * 5, new RunFiles(run).Evaluations().Count(e => e.Split == "val"));
        var roc = File.ReadAllBytes(Path.Combine(run, "plots", "roc.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, roc[..4]);
    }

    [Theory]
    [InlineData(new[] { "--temperature", "0" }, "--temperature must be > 0")]
    [InlineData(new[] { "--batch-size", "0" }, "batch-size must be >= 1")]
    [InlineData(new[] { "--epochs", "0" }, "epochs must be >= 1")]
    [InlineData(new[] { "--alpha", "-1" }, "alpha must be >= 0")]
    [InlineData(new[] { "--student-model", "gpt-5" }, "unknown model 'gpt-5'")]
    [InlineData(new[] { "--mode", "magic" }, "--mode (Training:Mode) must be independent, kd, ml or kd-ml (got 'magic')")]
    [InlineData(new[] { "--epocs", "2" }, "Unknown option '--epocs'")]
    [Trait("Category", "Fault")]
    public void Should_refuse_bad_settings_with_a_clear_error(string[] bad, string message)
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Synthetic().Output(dir).With(bad), dir, TimeSpan.FromMinutes(1));
        Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.Empty(Directory.GetDirectories(dir));
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_stop_on_a_loss_that_is_not_finite_and_keep_what_was_written()
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Synthetic().Models("tiny", "tiny").Set("--optimizer", "sgd").Set("--lr", "1e30")
            .MaxSteps(20).BatchSize(32).Output(dir, "nan"), dir, TimeSpan.FromMinutes(2));
        Assert.Equal((int)ExitCode.Failed, r.ExitCode);
        Assert.Contains("loss is not finite", r.Output);
        Assert.Contains("the step was refused", r.Output);
        var steps = new RunFiles(Path.Combine(dir, "nan")).Steps();
        Assert.True(steps.Count > 0, "the steps before the bad one are kept");
        Assert.All(steps, row => Assert.DoesNotContain(row.Measures, double.IsNaN));
        Assert.Contains("stopped early", File.ReadAllText(Path.Combine(dir, "nan", "summary.md")));
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_refuse_to_start_when_a_batch_cannot_fit_the_remoting_frame()
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().Synthetic().BatchSize(2048).Set("--max-frame-mb", 1).Port(0).Output(dir), dir, TimeSpan.FromMinutes(1));
        Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
        Assert.Contains("a batch of 2048 images of 1x28x28", r.Stderr);
        Assert.Contains("--max-frame-mb 2", r.Stderr);
        Assert.Empty(Directory.GetDirectories(dir));
    }

    [Fact]
    [Trait("Category", "Fault")]
    public void Should_name_a_missing_dataset_folder()
    {
        var missing = Path.Combine(dir, "no-such-folder");
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Dataset("folder").DataPath(missing).Output(dir), dir, TimeSpan.FromMinutes(1));
        Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
        Assert.Contains(missing, r.Output);
    }
}
