using P2PDistill.Shared.Hosting;
using System.Globalization;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Tests.Data;
using SkiaSharp;

namespace P2PDistill.Tests.Export;

[Trait("Category", "Unit")]
public sealed class PredictCommandSpecs(TrainedExports exports) : IClassFixture<TrainedExports>, IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static Task<(int Code, string Out, string Err)> Predict(params string[] args) => ExportTestSupport.Run(PredictCommand.RunAsync, args);

    /// <summary>A few PNGs and a JPEG of different sizes and colours.</summary>
    private string[] Images()
    {
        var images = new (string Name, int W, int H, SKColor Color, SKEncodedImageFormat Format)[]
        {
            ("white.png", 28, 28, SKColors.White, SKEncodedImageFormat.Png),
            ("dark.png", 28, 28, new SKColor(20, 20, 20), SKEncodedImageFormat.Png),
            ("red-wide.png", 40, 30, new SKColor(200, 30, 30), SKEncodedImageFormat.Png),
            ("gray.jpg", 56, 56, new SKColor(128, 128, 128), SKEncodedImageFormat.Jpeg),
        };
        foreach (var i in images) TestFiles.WritePng(dir.Combine(i.Name), i.W, i.H, i.Color, i.Format);
        return images.Select(i => dir.Combine(i.Name)).ToArray();
    }

    private static (string Path, string Class, double Probability)[] Parse(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var parts = line.TrimEnd('\r').Split('\t');
            Assert.Equal(3, parts.Length);
            return (parts[0], parts[1], double.Parse(parts[2], CultureInfo.InvariantCulture));
        }).ToArray();

    /// <summary>The expected top class and probability from the models' own predictions of the decoded image.</summary>
    private static (string Class, double Probability) Expected(string image, params ExportedModel[] models)
    {
        var shape = models[0].InputShape;
        var batch = new ImageBatch(shape, ImageFolderDataset.DecodeImage(image, shape.Height, shape.Channels), [0]);
        var p = Ensemble.MeanProbabilities(models.Select(m => m.Predict(batch)).ToList());
        int best = Array.IndexOf(p, p.Max());
        return (models[0].ClassNames[best], p[best]);
    }

    [Fact]
    public async Task Should_print_the_top_class_and_probability_of_each_image()
    {
        var images = Images();

        var (code, output, error) = await Predict(["--model", exports.StudentExport.CardPath, .. images]);

        Assert.True(code == 0, error);
        var lines = Parse(output);
        Assert.Equal(images, lines.Select(l => l.Path));
        using var model = ExportedModel.Load(exports.StudentExport.CardPath);
        foreach (var (path, cls, probability) in lines)
        {
            Assert.Contains(cls, exports.Data.ClassNames);
            Assert.InRange(probability, 0.25, 1.0); // the top of 4 classes
            var expected = Expected(path, model);
            Assert.Equal(expected.Class, cls);
            Assert.Equal(expected.Probability, probability, 4);
        }
    }

    [Fact]
    public async Task Should_use_the_ensemble_of_several_models()
    {
        var images = Images();

        var (code, output, error) = await Predict(["--model", exports.TinyExport.CardPath, "--model", exports.StudentExport.CardPath, .. images]);

        Assert.True(code == 0, error);
        using var tiny = ExportedModel.Load(exports.TinyExport.CardPath);
        using var student = ExportedModel.Load(exports.StudentExport.CardPath);
        foreach (var (path, cls, probability) in Parse(output))
        {
            var expected = Expected(path, tiny, student);
            Assert.Equal(expected.Class, cls);
            Assert.Equal(expected.Probability, probability, 4);
        }
    }

    [Fact]
    public async Task Should_draw_each_image_with_its_top_class_as_a_caption_and_print_the_same_lines()
    {
        var images = Images();
        var drawn = dir.Combine("drawn");

        var plain = await Predict(["--model", exports.StudentExport.CardPath, .. images]);
        var (code, output, error) = await Predict(["--model", exports.StudentExport.CardPath, "--draw", drawn, .. images]);

        Assert.True(code == 0, error);
        Assert.Equal(plain.Out, output);
        Assert.Equal(["dark.png", "gray.png", "red-wide.png", "white.png"], Directory.GetFiles(drawn).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var picture = SKBitmap.Decode(Path.Combine(drawn, "red-wide.png"));
        Assert.Equal((40, 30), (picture.Width, picture.Height));
        var top = exports.Data.ClassNames.ToList().IndexOf(Parse(output).Single(l => l.Path.EndsWith("red-wide.png", StringComparison.Ordinal)).Class);
        Assert.Equal(Shared.Detection.Drawing.BoxPainter.ColorOf(top), picture.GetPixel(0, 0)); // the caption's band, in the class's colour
        Assert.Equal(new SKColor(200, 30, 30), picture.GetPixel(39, 29)); // the image itself below it
    }

    [Fact]
    public async Task Should_print_help_and_exit_0()
    {
        var (code, output, _) = await Predict("-h");

        Assert.Equal((int)ExitCode.Completed, code);
        Assert.Contains("IMAGE", output);
        Assert.Contains("--model", output);
    }
}
