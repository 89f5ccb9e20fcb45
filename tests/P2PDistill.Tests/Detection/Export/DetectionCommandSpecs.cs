using System.Globalization;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Tasks;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Detection.Data;
using P2PDistill.Tests.Export;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Export;

/// <summary><c>evaluate</c> and <c>predict</c> on exported detectors: mAP table with the ensemble, boxes in the original image's pixels, drawn pictures.</summary>
[Trait("Category", "Unit")]
public sealed class DetectionCommandSpecs(TrainedDetectors detectors) : IClassFixture<TrainedDetectors>, IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static Task<(int Code, string Out, string Err)> Evaluate(params string[] args) => ExportTestSupport.Run(EvaluateCommand.RunAsync, args);

    private static Task<(int Code, string Out, string Err)> Predict(params string[] args) => ExportTestSupport.Run(PredictCommand.RunAsync, args);

    private static string Row(string output, string start) => output.Split('\n').Single(l => l.StartsWith(start, StringComparison.Ordinal)).TrimEnd('\r');

    private static string F4(double? value) => value is { } v ? v.ToString("F4", CultureInfo.InvariantCulture) : "n/a";

    /// <summary>The values the table shows for <paramref name="m"/>: mAP@0.5, mAP@0.5:0.95, AP@0.5 per class, detections.</summary>
    private static string Cells(DetectionMetrics m) =>
        $"| {F4(m.MapAt50)} | {F4(m.Map50To95)} | {F4(m.PerClass[0].Ap50)} | {F4(m.PerClass[1].Ap50)} | {m.Detections} |";

    [Fact]
    public async Task Should_score_each_detector_and_their_ensemble_by_map_on_the_cards_dataset()
    {
        var task = new DetectionTask(DetectionExportSupport.Layout, detectors.Data.ClassNames);
        var expected = task.Evaluate(0, 0, [("a", ModelRole.Student, detectors.MapsA), ("b", ModelRole.Student, detectors.MapsB)], detectors.Data.Test);
        var a = (DetectionMetrics)expected.Models[0].Metrics;
        var b = (DetectionMetrics)expected.Models[1].Metrics;
        var ensemble = (DetectionMetrics)expected.StudentEnsemble!;
        Assert.True(a.Detections > 0 && b.Detections > 0 && a.Detections != b.Detections, "the two detectors must differ for the test to tell them apart");

        // No --dataset: the card's (synthetic-detection), at the card's 32x32 RGB.
        var (code, output, error) = await Evaluate(["--model", detectors.ExportA.CardPath, "--model", detectors.ExportB.CardPath,
            "--batch-size", "5", .. DetectionExportSupport.EvaluateArgs()]);

        Assert.True(code == 0, error);
        Assert.Contains($"{DetectionExportSupport.TestCount} images, 2 classes (sessile, pedunculated)", output);
        Assert.Contains("| model | architecture | card | mAP@0.5 | mAP@0.5:0.95 | AP@0.5 sessile | AP@0.5 pedunculated | detections |", output);
        Assert.Equal("| student-det-a | det-student | det-a.json " + Cells(a), Row(output, "| student-det-a |"));
        Assert.Equal("| student-det-b | det-student | det-b.json " + Cells(b), Row(output, "| student-det-b |"));
        Assert.Equal("| ensemble of 2 | mean of probabilities |  " + Cells(ensemble), Row(output, "| ensemble of 2 |"));
    }

    [Fact]
    public async Task Should_score_detectors_and_their_ensemble_from_onnx_files_through_onnx_runtime_as_from_their_cards()
    {
        var task = new DetectionTask(DetectionExportSupport.Layout, detectors.Data.ClassNames);
        var expected = task.Evaluate(0, 0, [("a", ModelRole.Student, detectors.MapsA), ("b", ModelRole.Student, detectors.MapsB)], detectors.Data.Test);
        // The detectors to ONNX with the export command: each beside a copy of its card, and the two as ensemble.onnx.
        var a = dir.Combine("det-a.onnx");
        var b = dir.Combine("det-b.onnx");
        var both = dir.Combine("ensemble.onnx");
        foreach (var (card, target) in new[] { (detectors.ExportA.CardPath, a), (detectors.ExportB.CardPath, b) })
            Assert.Equal(0, (await ExportTestSupport.Run(ExportCommand.RunAsync, "--model", card, "--onnx", "--output", target)).Code);
        var written = await ExportTestSupport.Run(ExportCommand.RunAsync, "--model", detectors.ExportA.CardPath, "--model", detectors.ExportB.CardPath, "--onnx", "--output", both);
        Assert.True(written.Code == 0, written.Err);
        Assert.Contains("(mean of the members' probability maps)", written.Out);

        var (code, output, error) = await Evaluate(["--model", a, "--model", b, "--model", both, "--batch-size", "5", .. DetectionExportSupport.EvaluateArgs()]);

        Assert.True(code == 0, error);
        Assert.Equal("| student-det-a | det-student (ONNX Runtime) | det-a.onnx " + Cells((DetectionMetrics)expected.Models[0].Metrics), Row(output, "| student-det-a |"));
        Assert.Equal("| student-det-b | det-student (ONNX Runtime) | det-b.onnx " + Cells((DetectionMetrics)expected.Models[1].Metrics), Row(output, "| student-det-b |"));
        Assert.Equal("| ensemble | ensemble of 2 det-student (ONNX Runtime) | ensemble.onnx " + Cells((DetectionMetrics)expected.StudentEnsemble!), Row(output, "| ensemble |"));
    }

    [Fact]
    public async Task Should_print_no_ensemble_row_for_one_detector()
    {
        var (code, output, error) = await Evaluate(["--model", detectors.ExportA.CardPath, "--test-limit", "4", .. DetectionExportSupport.EvaluateArgs()]);

        Assert.True(code == 0, error);
        Assert.Contains("4 images, 2 classes", output);
        Assert.Contains("| student-det-a | det-student |", output);
        Assert.DoesNotContain("ensemble", output);
    }

    /// <summary>
    /// A 32×16 image of whole-colour blocks on even coordinates, and the same image twice as large (64×32): letterboxed to 32×32,
    /// both become the 32×16 image at rows 8..23 of a grey canvas, so their boxes are the same up to a factor 2.
    /// </summary>
    private (string Small, string Large, byte[] Canvas) LetterboxPair()
    {
        var background = new SKColor(40, 90, 160);
        (int X1, int Y1, int X2, int Y2, SKColor Color)[] blocks = [(4, 2, 14, 10, new SKColor(230, 120, 110)), (20, 6, 28, 14, new SKColor(250, 220, 90))];
        var small = dir.Combine("small.png");
        var large = dir.Combine("large.png");
        DetectionFiles.WriteImage(small, 32, 16, background, blocks);
        DetectionFiles.WriteImage(large, 64, 32, background, blocks.Select(b => (2 * b.X1, 2 * b.Y1, 2 * b.X2, 2 * b.Y2, b.Color)).ToArray());

        // The network input, by hand: grey 114 everywhere, the small image's pixels at rows 8..23 (top = (32 − 16) / 2).
        var canvas = new byte[3 * 32 * 32];
        Array.Fill(canvas, Letterbox.Padding);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 32; x++)
            {
                var color = background;
                foreach (var b in blocks)
                    if (x >= b.X1 && x < b.X2 && y >= b.Y1 && y < b.Y2) color = b.Color;
                canvas[(8 + y) * 32 + x] = color.Red;
                canvas[1024 + (8 + y) * 32 + x] = color.Green;
                canvas[2048 + (8 + y) * 32 + x] = color.Blue;
            }
        return (small, large, canvas);
    }

    private static string Line(string path, Shared.Detection.Detection d, double factor) => string.Create(CultureInfo.InvariantCulture,
        $"{path}\t{(d.Box.Class == 0 ? "sessile" : "pedunculated")}\t{d.Score:F4}\t{factor * d.Box.X1:F1}\t{factor * Math.Clamp(d.Box.Y1 - 8, 0, 16):F1}" +
        $"\t{factor * d.Box.X2:F1}\t{factor * Math.Clamp(d.Box.Y2 - 8, 0, 16):F1}");

    [Fact]
    public async Task Should_give_boxes_in_the_original_images_pixels_undoing_the_letterbox()
    {
        var (small, large, canvas) = LetterboxPair();
        using var model = ExportedModel.Load(detectors.ExportB.CardPath);
        var readout = PredictionReadouts.For(model);
        Assert.Equal(canvas, readout.Read(small).Pixels);
        Assert.Equal(canvas, readout.Read(large).Pixels);
        var detections = DetectionDecoder.DecodeProbabilities(model.Predict(new ImageBatch(model.InputShape, canvas, [0])), DetectionExportSupport.Layout);
        Assert.NotEmpty(detections);

        var (code, output, error) = await Predict("--model", detectors.ExportB.CardPath, small, large);

        Assert.True(code == 0, error);
        // The small image sits unscaled 8 rows down: x stays, y − 8; the large one was halved: both doubled. Boxes are cut at the image.
        var expected = detections.Select(d => Line(small, d, 1)).Concat(detections.Select(d => Line(large, d, 2)));
        Assert.Equal(expected, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
    }

    [Fact]
    public async Task Should_predict_with_the_mean_of_the_detectors_probability_maps()
    {
        var (small, _, canvas) = LetterboxPair();
        using var a = ExportedModel.Load(detectors.ExportA.CardPath);
        using var b = ExportedModel.Load(detectors.ExportB.CardPath);
        var batch = new ImageBatch(a.InputShape, canvas, [0]);
        var mean = Ensemble.MeanProbabilities([a.Predict(batch), b.Predict(batch)]);
        var detections = DetectionDecoder.DecodeProbabilities(mean, DetectionExportSupport.Layout);

        var (code, output, error) = await Predict("--model", detectors.ExportA.CardPath, "--model", detectors.ExportB.CardPath, small);

        Assert.True(code == 0, error);
        Assert.Equal(detections.Select(d => Line(small, d, 1)), output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
    }

    [Fact]
    public async Task Should_print_a_dash_for_an_image_without_detections()
    {
        var (small, large, _) = LetterboxPair();

        var (code, output, error) = await Predict("--model", detectors.BlindExport.CardPath, small, large);

        Assert.True(code == 0, error);
        Assert.Equal([$"{small}\t-", $"{large}\t-"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
    }

    [Fact]
    public async Task Should_draw_each_image_at_its_original_size_with_its_boxes()
    {
        var (small, large, _) = LetterboxPair();
        var drawn = dir.Combine("drawn", "sub"); // created when missing
        var again = dir.Combine("again");
        Directory.CreateDirectory(again);
        File.Copy(large, Path.Combine(again, "large.png"));

        var (code, _, error) = await Predict("--model", detectors.ExportB.CardPath, "--draw", drawn, small, large, Path.Combine(again, "large.png"));

        Assert.True(code == 0, error);
        Assert.Equal(["large-2.png", "large.png", "small.png"], Directory.GetFiles(drawn).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var original = SKBitmap.Decode(large);
        using var picture = SKBitmap.Decode(Path.Combine(drawn, "large.png"));
        Assert.Equal((64, 32), (picture.Width, picture.Height));
        Assert.Equal((32, 16), SizeOf(Path.Combine(drawn, "small.png")));
        // Outlines are drawn without antialiasing: some pixels are exactly a class's colour, which the image did not hold.
        var outline = BoxPainter.Palette.Take(2).ToHashSet();
        bool Outlined(SKBitmap bitmap) => Enumerable.Range(0, 64 * 32).Any(i => outline.Contains(bitmap.GetPixel(i % 64, i / 64)));
        Assert.False(Outlined(original));
        Assert.True(Outlined(picture), "the boxes are drawn on the picture");
    }

    private static (int, int) SizeOf(string png)
    {
        using var bitmap = SKBitmap.Decode(png);
        return (bitmap.Width, bitmap.Height);
    }

    [Fact]
    public async Task Should_not_draw_without_the_draw_option()
    {
        var (small, _, _) = LetterboxPair();
        var before = Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories).Length;

        var (code, _, error) = await Predict("--model", detectors.ExportA.CardPath, small);

        Assert.True(code == 0, error);
        Assert.Equal(before, Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories).Length);
    }
}
