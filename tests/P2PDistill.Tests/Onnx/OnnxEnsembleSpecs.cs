using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Export;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Onnx;

/// <summary>The student ensemble as one ONNX graph: the mean of its members' softmax, each member with its own normalisation.</summary>
[Trait("Category", "Unit")]
[Collection(TrainedOnnxModelsCollection.Name)]
public sealed class OnnxEnsembleSpecs(TrainedOnnxModels models, ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private (nn.Module<Tensor, Tensor> Network, ModelCard Card) Member(string architecture, Normalization? normalization = null)
    {
        var card = models.Export(architecture).Card;
        if (normalization is not null) card = card with { Normalization = new NormalizationInfo(normalization.Mean, normalization.Std) };
        return (models.Trainer(architecture).Network, card);
    }

    /// <summary>What the run's ensemble is: the mean of each member's TorchSharp softmax under its own card's normalisation.</summary>
    private static float[] TorchEnsemble(IReadOnlyList<(nn.Module<Tensor, Tensor> Network, ModelCard Card)> members, ImageBatch batch) =>
        Ensemble.MeanProbabilities(members.Select(m =>
            OnnxTestSupport.Softmax(OnnxTestSupport.TorchLogits(m.Network, batch, m.Card.ToNormalization()), m.Card.Classes.Count)).ToList());

    [Fact]
    public void Should_average_the_members_softmax_as_torchsharp_does_on_random_and_real_images_at_two_batch_sizes()
    {
        var other = new Normalization([0.45f], [0.3f]);
        var members = new[]
        {
            Member("cnn-student"), Member("tiny"), Member("mlp", other),
            Member("cnn-student", other), // the same model id twice: its subgraph gets its own prefix
        };
        var path = dir.Combine("ensemble.onnx");
        OnnxExporter.Write(OnnxExporter.BuildEnsemble(members), path);
        using var onnx = new OrtModel(path);

        Assert.Equal([OnnxExporter.ProbabilitiesName], onnx.Session.OutputNames);
        Assert.Equal([-1, 1, 28, 28], onnx.Session.InputMetadata[OnnxExporter.InputName].Dimensions);
        var xrays = OnnxTestSupport.PneumoniaMnistTest(12);
        double worst = 0;
        foreach (var (name, batch) in new[]
        {
            ("random pixels, batch 2", OnnxTestSupport.RandomImages(xrays.Shape, 2, seed: 11)),
            ("synthetic test images, batch 9", OnnxTestSupport.Images(models.Data.Test, 0, 9)),
            ("PneumoniaMNIST X-rays, batch 12", OnnxTestSupport.Images(xrays, 0, 12)),
        })
        {
            var (probabilities, shape) = onnx.Run(batch)[OnnxExporter.ProbabilitiesName];
            Assert.Equal(new long[] { batch.Count, 4 }, shape);
            var expected = TorchEnsemble(members, batch);
            double difference = OnnxTestSupport.MaxAbsDifference(expected, probabilities);
            Assert.True(difference <= OnnxTestSupport.Tolerance, $"ensemble: {name}: probabilities differ by {difference:E2}");
            // Not any one member's answer: the members disagree, and the mean is what comes out.
            Assert.True(OnnxTestSupport.MaxAbsDifference(TorchEnsemble([members[0]], batch), probabilities) > 1e-3);
            log.WriteLine($"ensemble of 4: {name}: max |Δ probability| {difference:E2}");
            worst = Math.Max(worst, difference);
        }
        log.WriteLine($"ensemble of 4: largest ONNX Runtime vs TorchSharp difference {worst:E2}");

        var model = OnnxExporter.Read(path);
        Assert.Equal("Mean", model.Graph.Node.Single(n => n.Output.Contains(OnnxExporter.ProbabilitiesName)).OpType);
        var prefixes = model.Graph.Initializer.Select(i => i.Name.Split('/')[0]).Distinct().Order().ToList();
        Assert.Equal(["student-cnn-student", "student-cnn-student-4", "student-mlp", "student-tiny"], prefixes);
        var metadata = OnnxExporter.MetadataOf(model);
        Assert.Equal("ensemble", metadata["p2pdistill.kind"]);
        Assert.Contains("0.45", metadata["p2pdistill.members"]);
    }

    [Fact]
    public void Should_refuse_members_of_other_classes_or_without_onnx_export_naming_them()
    {
        var (network, card) = Member("tiny");
        var threeClasses = card with { ModelId = "student-9", Classes = new ClassList(3, ["x", "y", "z"]) };
        var classes = Assert.Throws<ModelExportException>(() => OnnxExporter.BuildEnsemble([(network, card), (network, threeClasses)]));
        Assert.Contains("share input shape and classes", classes.Message);
        Assert.Contains("'student-9'", classes.Message);

        using var constant = ModelRegistry.Create("constant", card.Spec);
        var benchmark = card with { ModelId = "student-c", Architecture = "constant" };
        var unsupported = Assert.Throws<ModelExportException>(() => OnnxExporter.BuildEnsemble([(network, card), (constant, benchmark)]));
        Assert.Contains("Cannot export 'student-c' to ONNX", unsupported.Message);

        Assert.Throws<ModelExportException>(() => OnnxExporter.BuildEnsemble([]));
    }
}

[CollectionDefinition(Name)]
public sealed class TrainedOnnxModelsCollection : ICollectionFixture<TrainedOnnxModels>
{
    public const string Name = "Trained ONNX models";
}
