using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Export;

/// <summary>The model card's final metrics hold either task's scores by name, and cards written before that still load.</summary>
[Trait("Category", "Unit")]
public sealed class ModelCardFormatSpecs
{
    private static ModelCard Fixture(string name) => ModelCard.FromJson(File.ReadAllText(TestFixtures.Path(name)), name);

    [Fact]
    public void Should_load_a_classifier_card_written_before_final_metrics_had_values()
    {
        var card = Fixture("model-card-v1-classifier.json");

        Assert.Equal(TaskKind.Classification, card.Task);
        Assert.Equal("cnn-student", card.Architecture);
        var final = card.FinalMetrics!;
        Assert.Equal(0.8477564102564102, final.Accuracy);
        Assert.Equal(0.8272480628061699, final.MacroF1);
        Assert.Equal(0.9230988384834539, final.Auc);
        Assert.Equal(624, final.Count);
        Assert.Null(final.Values);
    }

    [Fact]
    public void Should_load_a_detector_card_written_before_detectors_had_final_metrics()
    {
        var card = Fixture("model-card-v1-detector.json");

        Assert.Equal(TaskKind.Detection, card.Task);
        Assert.Equal(["sessile", "pedunculated"], card.Classes.Names);
        Assert.Equal(new ModelSpec(3, 64, 64, 2), card.Spec);
        Assert.Null(card.FinalMetrics);
    }

    [Fact]
    public void Should_keep_a_classifiers_named_scores_and_every_metric_by_name()
    {
        var labels = new[] { 0, 1, 1, 0, 1 };
        var probabilities = new[] { 0.9f, 0.1f, 0.2f, 0.8f, 0.3f, 0.7f, 0.6f, 0.4f, 0.45f, 0.55f };
        var metrics = MetricsCalculator.Compute(probabilities, 2, labels);
        var card = ModelCard.Create("student-1", "student", "tiny", new ModelSpec(1, 8, 8, 2), ["no", "yes"], Normalization.Identity(1), finalMetrics: metrics);

        var json = card.ToJson();
        var loaded = ModelCard.FromJson(json, "card").FinalMetrics!;

        Assert.Equal(metrics.Accuracy, loaded.Accuracy);
        Assert.Equal(metrics.MacroF1, loaded.MacroF1);
        Assert.Equal(metrics.Nll, loaded.Nll);
        Assert.Equal(metrics.RocAuc, loaded.Auc);
        Assert.Equal(metrics.Sensitivity, loaded.Sensitivity);
        Assert.Equal(metrics.Specificity, loaded.Specificity);
        Assert.Equal(5, loaded.Count);
        Assert.Equal(["accuracy", "macro_f1", "nll", "auc", "sensitivity", "specificity"], loaded.Values!.Keys);
        Assert.Equal(metrics.RocAuc!.Value, loaded.Values["auc"]);
        using var document = JsonDocument.Parse(json);
        var final = document.RootElement.GetProperty("final_metrics");
        Assert.Equal(metrics.Accuracy, final.GetProperty("accuracy").GetDouble()); // the named fields stay where readers found them
        Assert.Equal(metrics.Accuracy, final.GetProperty("values").GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public void Should_accept_one_class_for_a_detector_and_refuse_it_for_a_classifier()
    {
        var detector = ModelCard.Create("s", "student", "det-student", new ModelSpec(3, 32, 32, 1), ["polyp"], Normalization.Identity(3));
        var classifier = ModelCard.Create("s", "student", "tiny", new ModelSpec(1, 8, 8, 1), ["only"], Normalization.Identity(1));

        Assert.Empty(detector.Validate());
        var problem = Assert.Single(classifier.Validate());
        Assert.Contains("needs at least 2 classes", problem);
    }
}
