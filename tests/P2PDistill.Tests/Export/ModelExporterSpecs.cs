using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Models;
using P2PDistill.Tests.Data;
using TorchSharp;

namespace P2PDistill.Tests.Export;

[Trait("Category", "Unit")]
public sealed class ModelExporterSpecs(TrainedExports exports) : IClassFixture<TrainedExports>, IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private ExportResult Export(string model) => model == "tiny" ? exports.TinyExport : exports.StudentExport;

    private Shared.Training.ModelTrainer Trainer(string model) => model == "tiny" ? exports.Tiny : exports.Student;

    private ImageBatch TestBatch(int count = 40) => BatchBuilder.Build(exports.Data.Test, Enumerable.Range(0, count).ToArray());

    /// <summary>Every state-dict tensor of <paramref name="module"/> must be in the file with the same dtype, shape and values, and nothing else.</summary>
    private static void AssertSafetensorsEqualsStateDict(string path, torch.nn.Module module)
    {
        var file = MinimalSafetensors.Read(path);
        var state = module.state_dict();
        Assert.Equal(state.Keys.Order(), file.Keys.Order());
        foreach (var (name, tensor) in state)
        {
            var entry = file[name];
            Assert.Equal(tensor.shape, entry.Shape);
            if (tensor.dtype == torch.ScalarType.Int64)
                Assert.Equal(tensor.data<long>().ToArray(), entry.Longs());
            else
            {
                Assert.Equal(torch.ScalarType.Float32, tensor.dtype);
                Assert.Equal(tensor.data<float>().ToArray(), entry.Floats());
            }
        }
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("cnn-student")]
    public void Should_write_safetensors_that_an_independent_reader_maps_to_the_source_state_dict(string model)
    {
        AssertSafetensorsEqualsStateDict(Export(model).SafetensorsPath, Trainer(model).Network);
    }

    [Fact]
    public void Should_keep_batch_norm_running_statistics_and_int64_step_counts_in_safetensors()
    {
        using var teacher = ExportTestSupport.Train("cnn-teacher", exports.Data, steps: 2, seed: 23);
        var result = ModelExporter.Export(teacher.Network, ExportTestSupport.Card(teacher, exports.Data), dir.Path, "teacher");

        AssertSafetensorsEqualsStateDict(result.SafetensorsPath, teacher.Network);
        var file = MinimalSafetensors.Read(result.SafetensorsPath);
        var tracked = file.Where(e => e.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, tracked.Count);
        Assert.All(tracked, e => Assert.Equal([2L], e.Value.Longs()));
        var runningVar = file.First(e => e.Key.EndsWith("running_var", StringComparison.Ordinal)).Value.Floats();
        Assert.Contains(runningVar, v => v != 1f); // trained statistics, not the initial ones
        using var loaded = ExportedModel.Load(result.CardPath, WeightsFormat.Safetensors);
        Assert.Equal(teacher.Predict(TestBatch()), loaded.Predict(TestBatch()));
    }

    [Theory]
    [InlineData("tiny", WeightsFormat.TorchSharp)]
    [InlineData("tiny", WeightsFormat.Safetensors)]
    [InlineData("cnn-student", WeightsFormat.TorchSharp)]
    [InlineData("cnn-student", WeightsFormat.Safetensors)]
    public void Should_reproduce_the_source_models_probabilities_when_loaded(string model, WeightsFormat format)
    {
        using var loaded = ExportedModel.Load(Export(model).CardPath, format);

        Assert.Equal(Trainer(model).Predict(TestBatch()), loaded.Predict(TestBatch()));
        Assert.Equal(ExportTestSupport.Probabilities(Trainer(model), exports.Data.Test), loaded.PredictAll(exports.Data.Test, batchSize: 128));
        Assert.Equal(exports.Data.ClassNames, loaded.ClassNames);
        Assert.Equal(Trainer(model).Setup.Normalization.Mean, loaded.Normalization.Mean);
        Assert.Equal(Trainer(model).Setup.Normalization.Std, loaded.Normalization.Std);
        Assert.EndsWith(format == WeightsFormat.TorchSharp ? ".dat" : ".safetensors", loaded.WeightsPath);
    }

    [Fact]
    public void Should_write_a_snake_case_card_with_the_checksums_of_the_exported_files()
    {
        var result = exports.StudentExport;
        using var json = JsonDocument.Parse(File.ReadAllText(result.CardPath));
        var root = json.RootElement;

        Assert.Equal("student-cnn-student", root.GetProperty("model_id").GetString());
        Assert.Equal("cnn-student", root.GetProperty("architecture").GetString());
        Assert.Equal("student", root.GetProperty("role").GetString());
        Assert.Equal(ModelRegistry.ParameterCount(exports.Student.Network), root.GetProperty("parameter_count").GetInt64());
        Assert.Equal(4, root.GetProperty("classes").GetProperty("count").GetInt32());
        Assert.Equal(exports.Data.ClassNames, root.GetProperty("classes").GetProperty("names").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(28, root.GetProperty("input_shape").GetProperty("height").GetInt32());
        Assert.Equal(1, root.GetProperty("input_shape").GetProperty("channels").GetInt32());
        Assert.Equal(exports.Student.Setup.Normalization.Mean[0], root.GetProperty("normalization").GetProperty("mean")[0].GetSingle());
        Assert.Equal(4, root.GetProperty("training").GetProperty("steps").GetInt64());
        Assert.Equal("synthetic", root.GetProperty("training").GetProperty("dataset").GetString());
        Assert.Equal(ModelCard.CurrentFormatVersion, root.GetProperty("format_versions").GetProperty("card").GetInt32());
        Assert.StartsWith("0.107", root.GetProperty("format_versions").GetProperty("torchsharp").GetString());
        Assert.True(root.TryGetProperty("created_utc", out _));

        var files = root.GetProperty("files").EnumerateArray().ToList();
        Assert.Equal(["student.dat", "student.safetensors"], files.Select(f => f.GetProperty("name").GetString()));
        foreach (var f in files)
        {
            var path = Path.Combine(Path.GetDirectoryName(result.CardPath)!, f.GetProperty("name").GetString()!);
            Assert.Equal(ModelExporter.Sha256(path), f.GetProperty("sha256").GetString());
            Assert.Equal(new FileInfo(path).Length, f.GetProperty("bytes").GetInt64());
        }
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(result.CardPath)!, "*.tmp")); // atomic writes leave nothing behind
    }

    [Fact]
    public void Should_carry_final_metrics_with_binary_scores_only_when_present()
    {
        var binary = ExportTestSupport.Data(classes: 2);
        using var trainer = ExportTestSupport.Train("tiny", binary, seed: 31);
        var metrics = MetricsCalculator.Compute(ExportTestSupport.Probabilities(trainer, binary.Test), 2, ExportTestSupport.Labels(binary.Test));
        var result = ModelExporter.Export(trainer.Network, ExportTestSupport.Card(trainer, binary, metrics), dir.Path, "binary");

        var card = ModelCard.Load(result.CardPath);
        Assert.Equal(metrics.Accuracy, card.FinalMetrics!.Accuracy);
        Assert.Equal(metrics.MacroF1, card.FinalMetrics.MacroF1);
        Assert.Equal(metrics.RocAuc, card.FinalMetrics.Auc);
        Assert.Equal(metrics.Sensitivity, card.FinalMetrics.Sensitivity);
        Assert.Equal(metrics.Specificity, card.FinalMetrics.Specificity);
        using var json = JsonDocument.Parse(File.ReadAllText(result.CardPath));
        Assert.True(json.RootElement.GetProperty("final_metrics").TryGetProperty("auc", out _));
        Assert.True(json.RootElement.GetProperty("final_metrics").TryGetProperty("macro_f1", out _));

        var four = MetricsCalculator.Compute(ExportTestSupport.Probabilities(exports.Tiny, exports.Data.Test), 4, ExportTestSupport.Labels(exports.Data.Test));
        var multi = ModelExporter.Export(exports.Tiny.Network, ExportTestSupport.Card(exports.Tiny, exports.Data, four), dir.Path, "multi");
        using var multiJson = JsonDocument.Parse(File.ReadAllText(multi.CardPath));
        Assert.False(multiJson.RootElement.GetProperty("final_metrics").TryGetProperty("auc", out _));
    }

    [Fact]
    public void Should_export_torchsharp_weight_bytes_received_from_a_remote_node()
    {
        var prefix = Path.Combine(dir.Path, "remote", "student");
        exports.Student.Save(prefix); // what a peer node's model actor writes
        var bytes = File.ReadAllBytes(prefix + ".weights");

        var result = ModelExporter.ExportBytes(bytes, ExportTestSupport.Card(exports.Student, exports.Data), dir.Path, "from-bytes");

        Assert.Equal(bytes, File.ReadAllBytes(result.WeightsPath));
        AssertSafetensorsEqualsStateDict(result.SafetensorsPath, exports.Student.Network);
        using var loaded = ExportedModel.Load(result.CardPath);
        Assert.Equal(exports.Student.Predict(TestBatch()), loaded.Predict(TestBatch()));
        Assert.Equal(ModelRegistry.ParameterCount(exports.Student.Network), loaded.Card.ParameterCount);
    }

    [Fact]
    public void Should_overwrite_an_earlier_export_of_the_same_name()
    {
        var first = ModelExporter.Export(exports.Tiny.Network, ExportTestSupport.Card(exports.Tiny, exports.Data), dir.Path, "model");
        var second = ModelExporter.Export(exports.Student.Network, ExportTestSupport.Card(exports.Student, exports.Data), dir.Path, "model");

        Assert.Equal(first.CardPath, second.CardPath);
        using var loaded = ExportedModel.Load(second.CardPath);
        Assert.Equal("cnn-student", loaded.Card.Architecture);
        Assert.Equal(3, Directory.GetFiles(dir.Path).Length);
    }
}
