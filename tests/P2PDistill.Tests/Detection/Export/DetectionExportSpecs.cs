using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.Detection.Export;

/// <summary>An exported detector loads back as a detector: its task from the registry, its probability map, its final metrics on the card.</summary>
[Trait("Category", "Unit")]
public sealed class DetectionExportSpecs(TrainedDetectors detectors) : IClassFixture<TrainedDetectors>, IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData(WeightsFormat.TorchSharp)]
    [InlineData(WeightsFormat.Safetensors)]
    public void Should_predict_the_in_memory_detectors_probability_map_when_loaded(WeightsFormat format)
    {
        using var loaded = ExportedModel.Load(detectors.ExportA.CardPath, format);
        var batch = BatchBuilder.Build(detectors.Data.Test, [0, 1, 2, 3]);

        Assert.Equal(TaskKind.Detection, loaded.Task.Kind);
        Assert.Equal(TaskKind.Detection, loaded.Card.Task);
        var layout = DetectionExportSupport.Layout;
        Assert.Equal(layout.Locations * (2 + 4 * layout.Bins), loaded.OutputsPerImage); // 20 locations × (2 classes + 4 sides × 8 bins)
        Assert.Equal(detectors.A.Predict(batch), loaded.Predict(batch));
        Assert.Equal(detectors.MapsA, loaded.PredictAll(detectors.Data.Test, batchSize: 5));
        Assert.Equal(["sessile", "pedunculated"], loaded.ClassNames);
    }

    [Fact]
    public void Should_give_maps_of_probabilities_that_decode_to_boxes()
    {
        using var loaded = ExportedModel.Load(detectors.ExportA.CardPath);
        var map = loaded.Predict(BatchBuilder.Build(detectors.Data.Test, [0]));
        var layout = DetectionExportSupport.Layout;

        // Class columns are sigmoids and every side a softmax: the map is the one DetectionTask evaluates, not raw logits.
        for (int l = 0; l < layout.Locations; l++)
        {
            var row = map.AsSpan(l * layout.RowWidth, layout.RowWidth);
            Assert.All(row.ToArray(), v => Assert.InRange(v, 0f, 1f));
            for (int side = 0; side < 4; side++)
                Assert.Equal(1.0, row.Slice(layout.SideColumn(side), layout.Bins).ToArray().Sum(v => (double)v), 5);
        }
        Assert.NotEmpty(DetectionDecoder.DecodeProbabilities(map, layout)); // the class bias was raised to make boxes appear
    }

    [Fact]
    public void Should_carry_a_detectors_final_test_metrics_in_its_card()
    {
        var task = new DetectionTask(DetectionExportSupport.Layout, detectors.Data.ClassNames);
        var metrics = Assert.IsType<DetectionMetrics>(task.Evaluate(0, 3, [("a", ModelRole.Student, detectors.MapsA)], detectors.Data.Test).Models[0].Metrics);
        Assert.True(metrics.Detections > 0);
        var export = ModelExporter.Export(detectors.A.Network, DetectionExportSupport.Card(detectors.A, detectors.Data, metrics), dir.Path, "with-metrics");

        var card = ModelCard.Load(export.CardPath);

        var values = card.FinalMetrics!.Values!;
        Assert.Equal(metrics.MapAt50!.Value, values["map50"]);
        Assert.Equal(metrics.Map50To95!.Value, values["map50_95"]);
        Assert.Equal(metrics.Detections, values["detections"]);
        Assert.Equal(metrics.GroundTruths, values["ground_truths"]);
        Assert.Equal(metrics.PerClass[0].Ap50!.Value, values["ap50_sessile"]);
        Assert.Equal(metrics.PerClass[1].Ap50!.Value, values["ap50_pedunculated"]);
        Assert.Equal(DetectionExportSupport.TestCount, card.FinalMetrics.Count);
        Assert.Null(card.FinalMetrics.Accuracy); // a detector has no accuracy: the card leaves classification's fields out
        using var json = JsonDocument.Parse(File.ReadAllText(export.CardPath));
        var final = json.RootElement.GetProperty("final_metrics");
        Assert.False(final.TryGetProperty("accuracy", out _));
        Assert.Equal(metrics.MapAt50!.Value, final.GetProperty("values").GetProperty("map50").GetDouble());
    }

    [Fact]
    public void Should_export_and_load_a_detector_of_one_class()
    {
        var one = SyntheticDetectionDataset.Load(8, 2, DetectionExportSupport.Size, 3, 5);
        var names = new[] { "polyp" };
        var spec = new Shared.Models.ModelSpec(3, DetectionExportSupport.Size, DetectionExportSupport.Size, 1);
        using var network = Shared.Models.ModelRegistry.Create("det-student", spec);
        var card = ModelCard.Create("student-1", "student", "det-student", spec, names, Normalization.Identity(3));

        var export = ModelExporter.Export(network, card, dir.Path, "one-class");
        using var loaded = ExportedModel.Load(export.CardPath);

        Assert.Equal(1, loaded.NumClasses);
        Assert.Equal(new DetectionLayout(1, DetectionExportSupport.Size, DetectionExportSupport.Size).ValuesPerImage, loaded.Predict(BatchBuilder.Build(one.Test, [0])).Length);
    }
}
