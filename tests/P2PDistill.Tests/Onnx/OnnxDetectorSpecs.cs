using System.Text.Json;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Export;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using BatchNorm2d = TorchSharp.Modules.BatchNorm2d;

namespace P2PDistill.Tests.Onnx;

/// <summary>
/// The detectors' ONNX export (det-teacher, det-student) run by ONNX Runtime against TorchSharp's evaluation-mode output: the dense
/// map of logits and its probabilities (class sigmoids, side softmaxes, <see cref="DetectionEnsemble.ToProbabilities"/>), at batch 1
/// and larger batches, on random pixels and on the synthetic polyp images (the repository holds no real detection images); the
/// detector ensemble against the codebase's own ensemble computation; and the export of a detector writing its .onnx file.
/// </summary>
[Trait("Category", "Unit")]
public sealed class OnnxDetectorSpecs(ITestOutputHelper log) : IDisposable
{
    private static readonly string[] TwoClasses = ["sessile", "pedunculated"];

    /// <summary>A per-channel normalisation far from the identity (the polyp images are reddish), as a card would carry.</summary>
    private static readonly Normalization Reddish = new([0.72f, 0.38f, 0.33f], [0.09f, 0.08f, 0.08f]);

    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>The synthetic polyp test images (3x<paramref name="size"/>², seed 5): structured images with objects, not noise.</summary>
    private static IImageDataset Polyps(int size, int count) => SyntheticDetectionDataset.Load(4, count, size, 3, seed: 5).Test;

    /// <summary>
    /// A detector with seeded random weights of a usual size: convolutions Kaiming-normal (so the logits are of order 1, sigmoids
    /// and softmaxes far from their prior and from uniform), the norms' affine weights in [0.5, 1.5] and biases in [−0.2, 0.2]; its
    /// batch norms' running statistics then set to those of a batch of images under <paramref name="normalization"/> (not the
    /// initial 0 and 1); in evaluation mode.
    /// </summary>
    private static nn.Module<Tensor, Tensor> RandomDetector(string architecture, ModelSpec spec, Normalization normalization, ulong seed)
    {
        var network = ModelRegistry.Create(architecture, spec);
        using var generator = new Generator(seed, CPU);
        using (no_grad())
        using (NewDisposeScope())
        {
            foreach (var (name, p) in network.named_parameters())
            {
                if (p.dim() == 4)
                    p.copy_(randn(p.shape, generator: generator) * Math.Sqrt(2.0 / (p.shape[1] * p.shape[2] * p.shape[3])));
                else if (name.EndsWith(".weight", StringComparison.Ordinal))
                    p.copy_(rand(p.shape, generator: generator) + 0.5);
                else
                    p.copy_((rand(p.shape, generator: generator) - 0.5) * 0.4);
            }
        }
        var norms = network.modules().OfType<BatchNorm2d>().ToList();
        Assert.NotEmpty(norms);
        foreach (var bn in norms) bn.momentum = 1.0;
        network.train();
        var images = OnnxTestSupport.RandomImages(new ImageShape(spec.Channels, spec.Height, spec.Width), 8, seed: (int)seed + 100);
        using (no_grad())
        using (NewDisposeScope())
            network.forward(BatchTensors.ToTensor(images, normalization));
        foreach (var bn in norms) bn.momentum = 0.1;
        network.eval();
        using (NewDisposeScope())
            Assert.Contains(norms, bn => bn.running_mean!.abs().max().item<float>() > 0.05f); // the images' statistics, not the initial zeros
        return network;
    }

    private static ModelCard Card(string id, string architecture, ModelSpec spec, Normalization normalization) =>
        ModelCard.Create(id, "student", architecture, spec, Enumerable.Range(0, spec.NumClasses).Select(c => c < 2 ? TwoClasses[c] : $"class-{c}").ToArray(), normalization);

    private static DetectionLayout Layout(ModelSpec spec) => new(spec.NumClasses, spec.Height, spec.Width);

    /// <summary>The largest deviation of a side probability from the uniform 1/B: the softmaxes compared are not all flat.</summary>
    private static double LargestSideDeviation(float[] probabilities, DetectionLayout layout)
    {
        double largest = 0;
        for (int i = 0; i < probabilities.Length; i++)
            if (i % layout.RowWidth >= layout.Classes) largest = Math.Max(largest, Math.Abs(probabilities[i] - 1.0 / layout.Bins));
        return largest;
    }

    /// <summary>
    /// ONNX Runtime's <c>map</c> against TorchSharp's evaluation-mode map under the card's normalisation, and its <c>probabilities</c>
    /// against <see cref="DetectionEnsemble.ToProbabilities"/> of that map; returns the largest differences.
    /// </summary>
    private static (double Map, double Probabilities) Compare(OrtModel onnx, nn.Module<Tensor, Tensor> network, Normalization normalization, DetectionLayout layout, ImageBatch batch)
    {
        var outputs = onnx.Run(batch);
        var (map, mapShape) = outputs[OnnxExporter.MapName];
        var (probabilities, probabilityShape) = outputs[OnnxExporter.ProbabilitiesName];
        Assert.Equal(new long[] { batch.Count, layout.Locations, layout.RowWidth }, mapShape);
        Assert.Equal(new long[] { batch.Count, layout.Locations, layout.RowWidth }, probabilityShape);

        var expectedMap = OnnxTestSupport.TorchLogits(network, batch, normalization);
        var expectedProbabilities = DetectionEnsemble.ToProbabilities(expectedMap, layout);
        double m = OnnxTestSupport.MaxAbsDifference(expectedMap, map);
        double p = OnnxTestSupport.MaxAbsDifference(expectedProbabilities, probabilities);
        Assert.True(m <= OnnxTestSupport.Tolerance, $"map differs by {m:E2} on a batch of {batch.Count}");
        Assert.True(p <= OnnxTestSupport.Tolerance, $"probabilities differ by {p:E2} on a batch of {batch.Count}");
        // Not a degenerate network: logits of order 1, class scores spread, side distributions far from flat.
        Assert.True(expectedMap.Max(v => Math.Abs(v)) > 1, "the logits are all small");
        Assert.True(LargestSideDeviation(expectedProbabilities, layout) > 0.1, "the side distributions are all nearly uniform");
        return (m, p);
    }

    [Theory]
    [InlineData("det-teacher", 3, 64, 64, 2)]
    [InlineData("det-student", 3, 64, 64, 2)]
    [InlineData("det-student", 3, 32, 48, 3)] // not square: rows and columns of the levels differ
    [InlineData("det-student", 1, 32, 32, 1)] // grayscale, one class
    public void Should_give_the_map_and_probabilities_torchsharp_gives_at_batch_1_and_larger_batches(string architecture, int channels, int height, int width, int classes)
    {
        var spec = new ModelSpec(channels, height, width, classes);
        var normalization = channels == 3 ? Reddish : new Normalization([0.45f], [0.25f]);
        using var network = RandomDetector(architecture, spec, normalization, seed: 21);
        var card = Card("student-1", architecture, spec, normalization);
        var path = dir.Combine($"{architecture}.onnx");
        OnnxExporter.Write(OnnxExporter.Build(network, card), path);
        using var onnx = new OrtModel(path);
        var layout = Layout(spec);

        var shape = new ImageShape(channels, height, width);
        var batches = new List<(string Name, ImageBatch Batch)>
        {
            ("random pixels, batch 1", OnnxTestSupport.RandomImages(shape, 1, seed: 1)),
            ("random pixels, batch 5", OnnxTestSupport.RandomImages(shape, 5, seed: 2)),
        };
        if (channels == 3 && height == width) batches.Add(("synthetic polyps, batch 6", OnnxTestSupport.Images(Polyps(height, 6), 0, 6)));
        double worstMap = 0, worstP = 0;
        foreach (var (name, batch) in batches)
        {
            var (m, p) = Compare(onnx, network, normalization, layout, batch);
            log.WriteLine($"{architecture} {shape}, {classes} classes: {name}: max |Δ map| {m:E2}, max |Δ probability| {p:E2}");
            (worstMap, worstP) = (Math.Max(worstMap, m), Math.Max(worstP, p));
        }
        log.WriteLine($"{architecture} {shape}: largest ONNX Runtime vs TorchSharp difference: map {worstMap:E2}, probabilities {worstP:E2}");
    }

    [Fact]
    public void Should_declare_the_dynamic_batch_the_fixed_input_size_and_a_layout_from_which_boxes_decode_as_the_codebase_decodes_them()
    {
        var spec = new ModelSpec(3, 32, 48, 2);
        using var network = RandomDetector("det-student", spec, Reddish, seed: 31);
        var card = Card("student-2", "det-student", spec, Reddish);
        var path = dir.Combine("det.onnx");
        OnnxExporter.Write(OnnxExporter.Build(network, card), path);
        using var onnx = new OrtModel(path);
        var layout = Layout(spec);

        var input = onnx.Session.InputMetadata[OnnxExporter.InputName];
        Assert.Equal([-1, 3, 32, 48], input.Dimensions);
        Assert.Equal(OnnxExporter.BatchDimension, input.SymbolicDimensions[0]);
        Assert.Equal([OnnxExporter.ProbabilitiesName, OnnxExporter.MapName], onnx.Session.OutputNames);
        Assert.Equal([-1, 4 * 6 + 2 * 3, 2 + 4 * 8], onnx.Session.OutputMetadata[OnnxExporter.ProbabilitiesName].Dimensions);
        Assert.Equal([-1, 30, 34], onnx.Session.OutputMetadata[OnnxExporter.MapName].Dimensions);

        var metadata = onnx.Session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("model", metadata["p2pdistill.kind"]);
        Assert.Equal("detection", metadata["p2pdistill.task"]);
        Assert.Equal("det-student", metadata["p2pdistill.architecture"]);
        Assert.Equal(TwoClasses, JsonSerializer.Deserialize<string[]>(metadata["p2pdistill.classes"]));
        Assert.Equal("3x32x48", metadata["p2pdistill.input_shape"]);
        Assert.Contains("fixed at 32x48", metadata["p2pdistill.input"]);
        Assert.Equal(Reddish.Mean, JsonSerializer.Deserialize<float[]>(metadata["p2pdistill.normalization.mean"]));
        Assert.Equal(Reddish.Std, JsonSerializer.Deserialize<float[]>(metadata["p2pdistill.normalization.std"]));
        Assert.Contains("0-255", metadata["p2pdistill.normalization"]);
        Assert.Contains("sigmoid", metadata["p2pdistill.decoding"]);
        Assert.Equal("det-student", ModelCard.FromJson(metadata["p2pdistill.model_card"], "metadata").Architecture);

        // The layout in the metadata is the codebase's layout: rebuilt from it alone, it decodes ONNX Runtime's probabilities
        // into the boxes the codebase decodes from TorchSharp's map.
        using var json = JsonDocument.Parse(metadata["p2pdistill.layout"]);
        var l = json.RootElement;
        var strides = l.GetProperty("strides").EnumerateArray().Select(s => s.GetInt32()).ToArray();
        Assert.Equal([8, 16], strides);
        var rebuilt = new DetectionLayout(l.GetProperty("classes").GetInt32(), l.GetProperty("height").GetInt32(), l.GetProperty("width").GetInt32(),
            l.GetProperty("bins").GetInt32(), strides);
        Assert.Equal((layout.Classes, layout.Height, layout.Width, layout.Bins, layout.Locations, layout.RowWidth),
            (rebuilt.Classes, rebuilt.Height, rebuilt.Width, rebuilt.Bins, rebuilt.Locations, rebuilt.RowWidth));
        Assert.Equal(layout.Locations, l.GetProperty("locations").GetInt32());
        Assert.Equal(layout.RowWidth, l.GetProperty("row_width").GetInt32());
        var levels = l.GetProperty("levels").EnumerateArray().ToList();
        Assert.Equal(layout.Levels.Select(v => (v.Stride, v.Rows, v.Columns, v.FirstLocation)),
            levels.Select(v => (v.GetProperty("stride").GetInt32(), v.GetProperty("rows").GetInt32(), v.GetProperty("columns").GetInt32(), v.GetProperty("first_location").GetInt32())));
        Assert.Equal(layout.SideColumn(2), l.GetProperty("side_columns").GetProperty("right").GetInt32());
        using var defaults = JsonDocument.Parse(metadata["p2pdistill.decode_defaults"]);
        var options = new DetectionDecodeOptions
        {
            ScoreThreshold = defaults.RootElement.GetProperty("score_threshold").GetSingle(),
            PreNmsTop = defaults.RootElement.GetProperty("pre_nms_top").GetInt32(),
            NmsIou = defaults.RootElement.GetProperty("nms_iou").GetDouble(),
            MaxDetections = defaults.RootElement.GetProperty("max_detections").GetInt32(),
        };
        Assert.Equal(DetectionDecodeOptions.Default, options);

        var batch = OnnxTestSupport.RandomImages(new ImageShape(3, 32, 48), 3, seed: 9);
        var fromOnnx = DetectionDecoder.DecodeProbabilitiesBatch(onnx.Run(batch)[OnnxExporter.ProbabilitiesName].Values, rebuilt, options);
        var fromTorch = DetectionDecoder.DecodeBatch(OnnxTestSupport.TorchLogits(network, batch, Reddish), layout);
        Assert.Equal(3, fromOnnx.Count);
        Assert.Contains(fromTorch, boxes => boxes.Count > 0);
        for (int i = 0; i < fromTorch.Count; i++)
        {
            Assert.Equal(fromTorch[i].Count, fromOnnx[i].Count);
            foreach (var (t, o) in fromTorch[i].Zip(fromOnnx[i]))
            {
                Assert.Equal(t.Box.Class, o.Box.Class);
                Assert.True(Math.Abs(t.Score - o.Score) <= OnnxTestSupport.Tolerance);
                foreach (var (a, b) in new[] { (t.Box.X1, o.Box.X1), (t.Box.Y1, o.Box.Y1), (t.Box.X2, o.Box.X2), (t.Box.Y2, o.Box.Y2) })
                    Assert.True(Math.Abs(a - b) <= 1e-3, $"image {i}: box {t.Box} from TorchSharp, {o.Box} from ONNX Runtime");
            }
        }

        // The graph: opset 17 (no GroupNormalization, which needs 18), PyTorch's nearest upsampling as Resize, and the head shared by
        // both levels stored once.
        var model = OnnxExporter.Read(path);
        Assert.Equal(OnnxExporter.Opset, model.OpsetImport.Single().Version);
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType == "GroupNormalization");
        Assert.Equal(2, model.Graph.Node.Count(n => n.OpType == "InstanceNormalization")); // det-student: one head GroupNorm, run on both levels
        var resize = Assert.Single(model.Graph.Node, n => n.OpType == "Resize");
        var attributes = resize.Attribute.ToDictionary(a => a.Name, a => a.S.ToStringUtf8());
        Assert.Equal("nearest", attributes["mode"]);
        Assert.Equal("asymmetric", attributes["coordinate_transformation_mode"]);
        Assert.Equal("floor", attributes["nearest_mode"]);
        var headWeight = Assert.Single(model.Graph.Initializer, i => i.Name == "head.0.weight");
        Assert.Equal(2, model.Graph.Node.Count(n => n.OpType == "Conv" && n.Input.Contains(headWeight.Name)));
        Assert.Equal(ModelRegistry.ParameterCount(network) + network.buffers().Where(b => b.dtype == ScalarType.Float32).Sum(b => b.numel()),
            model.Graph.Initializer.Where(i => i.DataType == (int)global::Onnx.TensorProto.Types.DataType.Float && i.Name.Contains('.'))
                .Where(i => !i.Name.EndsWith(".group_scale", StringComparison.Ordinal) && !i.Name.EndsWith(".group_bias", StringComparison.Ordinal))
                .Sum(i => i.Dims.Aggregate(1L, (a, b) => a * b)));
    }

    [Fact]
    public void Should_average_the_members_probability_maps_as_the_codebase_ensemble_does()
    {
        var spec = new ModelSpec(3, 64, 64, 2);
        var other = new Normalization([0.5f], [0.2f]);
        using var a = RandomDetector("det-student", spec, Reddish, seed: 41);
        using var b = RandomDetector("det-student", spec, other, seed: 42);
        using var c = RandomDetector("det-teacher", spec, Reddish, seed: 43);
        var members = new (nn.Module<Tensor, Tensor> Network, ModelCard Card)[]
        {
            (a, Card("student-1", "det-student", spec, Reddish)),
            (b, Card("student-2", "det-student", spec, other)),
            (c, Card("student-3", "det-teacher", spec, Reddish)),
        };
        var path = dir.Combine("ensemble.onnx");
        OnnxExporter.Write(OnnxExporter.BuildEnsemble(members), path);
        using var onnx = new OrtModel(path);
        var layout = Layout(spec);
        var task = TrainingTasks.For(TaskKind.Detection, spec, TwoClasses);

        Assert.Equal([OnnxExporter.ProbabilitiesName], onnx.Session.OutputNames);
        Assert.Equal([-1, 3, 64, 64], onnx.Session.InputMetadata[OnnxExporter.InputName].Dimensions);
        Assert.Equal([-1, layout.Locations, layout.RowWidth], onnx.Session.OutputMetadata[OnnxExporter.ProbabilitiesName].Dimensions);
        double worst = 0;
        foreach (var (name, batch) in new[]
        {
            ("random pixels, batch 1", OnnxTestSupport.RandomImages(new ImageShape(3, 64, 64), 1, seed: 3)),
            ("random pixels, batch 4", OnnxTestSupport.RandomImages(new ImageShape(3, 64, 64), 4, seed: 4)),
            ("synthetic polyps, batch 6", OnnxTestSupport.Images(Polyps(64, 6), 0, 6)),
        })
        {
            var (probabilities, shape) = onnx.Run(batch)[OnnxExporter.ProbabilitiesName];
            Assert.Equal(new long[] { batch.Count, layout.Locations, layout.RowWidth }, shape);
            var maps = members.Select(m => OnnxTestSupport.TorchLogits(m.Network, batch, m.Card.ToNormalization())).ToList();
            // The detector ensemble's own mean, and what a run's evaluation averages (each student's task predictions, then their mean).
            var expected = DetectionEnsemble.MeanProbabilities(maps, layout);
            var evaluated = Ensemble.MeanProbabilities(members.Select(m =>
            {
                using var noGrad = no_grad();
                using var scope = NewDisposeScope();
                return task.Predictions(m.Network.forward(BatchTensors.ToTensor(batch, m.Card.ToNormalization())));
            }).ToList());
            double difference = OnnxTestSupport.MaxAbsDifference(expected, probabilities);
            Assert.True(difference <= OnnxTestSupport.Tolerance, $"detector ensemble: {name}: probabilities differ by {difference:E2}");
            Assert.True(OnnxTestSupport.MaxAbsDifference(evaluated, probabilities) <= OnnxTestSupport.Tolerance);
            // The mean, not any one member's map: the members disagree.
            foreach (var map in maps)
                Assert.True(OnnxTestSupport.MaxAbsDifference(DetectionEnsemble.ToProbabilities(map, layout), probabilities) > 1e-2);
            log.WriteLine($"detector ensemble of 3: {name}: max |Δ probability| {difference:E2}");
            worst = Math.Max(worst, difference);
        }
        log.WriteLine($"detector ensemble of 3: largest ONNX Runtime vs TorchSharp difference {worst:E2}");

        var model = OnnxExporter.Read(path);
        Assert.Equal("Mean", model.Graph.Node.Single(n => n.Output.Contains(OnnxExporter.ProbabilitiesName)).OpType);
        var metadata = OnnxExporter.MetadataOf(model);
        Assert.Equal("ensemble", metadata["p2pdistill.kind"]);
        Assert.Equal("detection", metadata["p2pdistill.task"]);
        Assert.Contains("0.72", metadata["p2pdistill.members"]);
        Assert.Contains("\"bins\":8", metadata["p2pdistill.layout"]);
    }

    [Fact]
    public void Should_refuse_classifiers_mixed_with_detectors_detectors_of_other_layouts_and_a_network_that_is_not_the_cards_detector()
    {
        var spec = new ModelSpec(3, 32, 32, 2);
        using var detector = RandomDetector("det-student", spec, Reddish, seed: 51);
        using var tiny = ModelRegistry.Create("tiny", spec);
        var detectorCard = Card("student-1", "det-student", spec, Reddish);
        var tinyCard = Card("student-2", "tiny", spec, Reddish);

        var mixed = Assert.Throws<ModelExportException>(() => OnnxExporter.BuildEnsemble([(detector, detectorCard), (tiny, tinyCard)]));
        Assert.Contains("must all be classifiers or all detectors", mixed.Message);
        Assert.Contains("'student-2' (tiny)", mixed.Message);

        var larger = new ModelSpec(3, 64, 64, 2);
        using var other = RandomDetector("det-student", larger, Reddish, seed: 52);
        var sizes = Assert.Throws<ModelExportException>(() => OnnxExporter.BuildEnsemble([(detector, detectorCard), (other, Card("student-3", "det-student", larger, Reddish))]));
        Assert.Contains("share input shape and classes", sizes.Message);

        // A detector of 6 bins per side (the registry builds 8): its map has another layout, which the mean cannot mix with the others.
        using var sixBins = new Detector("det-student", 3, 2, DetectorWidths.Student, bins: 6);
        var bins = Assert.Throws<ModelExportException>(() => OnnxExporter.BuildEnsemble([(detector, detectorCard), (sixBins, Card("student-4", "det-student", spec, Reddish))]));
        Assert.Contains("share their map layout", bins.Message);
        Assert.Contains("'student-4' 6 bins", bins.Message);

        var notADetector = Assert.Throws<ModelExportException>(() => OnnxExporter.Build(tiny, detectorCard));
        Assert.Contains("Cannot export 'student-1' (det-student) to ONNX", notADetector.Message);
        Assert.Contains("TinyNet", notADetector.Message);

        var threeClasses = Assert.Throws<ModelExportException>(() => OnnxExporter.Build(detector, Card("student-1", "det-student", spec with { NumClasses = 3 }, Reddish)));
        Assert.Contains("detects 2 classes, the card says 3", threeClasses.Message);

        Assert.Null(OnnxExporter.WhyNot("det-teacher"));
        Assert.True(OnnxExporter.Supports("det-student"));
        Assert.Contains("benchmark model", OnnxExporter.WhyNot("constant") ?? "");
    }

    [Fact]
    public void Should_write_the_onnx_file_beside_a_detectors_weights_in_an_export_and_in_a_runs_export()
    {
        var spec = new ModelSpec(3, 32, 32, 2);
        using var network = RandomDetector("det-student", spec, Reddish, seed: 61);
        var card = Card("student-1", "det-student", spec, Reddish);

        var export = ModelExporter.Export(network, card, dir.CreateDirectory("export"), "student-1", onnx: true);
        Assert.Equal(dir.Combine("export", "student-1.onnx"), export.OnnxPath);
        Assert.True(File.Exists(export.OnnxPath));
        var entry = Assert.Single(ModelCard.Load(export.CardPath).Files, f => f.Format == OnnxExporter.Format);
        Assert.Equal(ModelExporter.Sha256(export.OnnxPath!), entry.Sha256);
        var batch = OnnxTestSupport.Images(Polyps(32, 5), 0, 5);
        using (var torch = ExportedModel.Load(export.CardPath)) // checks every listed file, the .onnx included
        using (var onnx = new OrtModel(export.OnnxPath!))
        {
            // The exported model's own predictions (the probability map, as the run's evaluation sees it) are ONNX Runtime's.
            Assert.True(OnnxTestSupport.MaxAbsDifference(torch.Predict(batch), onnx.Run(batch)[OnnxExporter.ProbabilitiesName].Values) <= OnnxTestSupport.Tolerance);
        }

        // A run exports its models from their weight bytes, with ONNX by default.
        var run = ModelExporter.ExportBytes(File.ReadAllBytes(export.WeightsPath), card, dir.CreateDirectory("run"), "student-1");
        Assert.Equal(dir.Combine("run", "student-1.onnx"), run.OnnxPath);
        using (var torch = ExportedModel.Load(run.CardPath))
        using (var onnx = new OrtModel(run.OnnxPath!))
            Assert.True(OnnxTestSupport.MaxAbsDifference(torch.Predict(batch), onnx.Run(batch)[OnnxExporter.ProbabilitiesName].Values) <= OnnxTestSupport.Tolerance);
    }

    [Fact]
    public async Task Should_convert_detector_exports_with_the_export_command_one_and_several()
    {
        var spec = new ModelSpec(3, 32, 32, 2);
        using var a = RandomDetector("det-student", spec, Reddish, seed: 71);
        using var b = RandomDetector("det-teacher", spec, Reddish, seed: 72);
        var first = ModelExporter.Export(a, Card("student-1", "det-student", spec, Reddish), dir.CreateDirectory("run"), "student-1");
        var second = ModelExporter.Export(b, Card("student-2", "det-teacher", spec, Reddish), dir.Combine("run"), "student-2");
        Assert.Null(first.OnnxPath);

        var one = await ExportTestSupport.Run(ExportCommand.RunAsync, ["--model", first.CardPath, "--onnx"]);
        Assert.True(one.Code == ExitCodes.Ok, one.Err);
        Assert.Single(ModelCard.Load(first.CardPath).Files, f => f.Format == OnnxExporter.Format);
        var batch = OnnxTestSupport.Images(Polyps(32, 4), 0, 4);
        using var firstModel = ExportedModel.Load(first.CardPath);
        using (var onnx = new OrtModel(dir.Combine("run", "student-1.onnx")))
            Assert.True(OnnxTestSupport.MaxAbsDifference(firstModel.Predict(batch), onnx.Run(batch)[OnnxExporter.ProbabilitiesName].Values) <= OnnxTestSupport.Tolerance);

        var both = await ExportTestSupport.Run(ExportCommand.RunAsync, ["--model", first.CardPath, "--model", second.CardPath, "--onnx"]);
        Assert.True(both.Code == ExitCodes.Ok, both.Err);
        using var secondModel = ExportedModel.Load(second.CardPath);
        using var ensemble = new OrtModel(dir.Combine("run", ExportCommand.EnsembleFileName));
        var expected = Ensemble.MeanProbabilities([firstModel.Predict(batch), secondModel.Predict(batch)]);
        Assert.True(OnnxTestSupport.MaxAbsDifference(expected, ensemble.Run(batch)[OnnxExporter.ProbabilitiesName].Values) <= OnnxTestSupport.Tolerance);
    }
}
