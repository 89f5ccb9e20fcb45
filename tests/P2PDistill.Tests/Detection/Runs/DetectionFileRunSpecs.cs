using System.Globalization;
using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Runs;

/// <summary>
/// A YOLO folder and a COCO file, written by the test from the synthetic polyps (PNG images and their exact boxes), each
/// train end to end: the coordinator executable loads them, trains teacher + 2 students, evaluates and exports.
/// </summary>
[Trait("Category", "MultiProcess")]
[Collection(ProcessTests.Name)]
public sealed class DetectionFileRunSpecs : IDisposable
{
    private const int Size = 64;
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-det-files-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>The synthetic set's first <paramref name="train"/> training and <paramref name="test"/> test images.</summary>
    private static DetectionSplits Polyps(int train, int test) => SyntheticDetectionDataset.Load(train, test, Size, 3, seed: 7);

    private static void WritePng(string path, IDetectionDataset split, int index)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var pixels = new byte[split.Shape.Pixels];
        split.CopyImage(index, pixels);
        using var bitmap = BoxPainter.FromPixels(pixels, split.Shape);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void Should_train_a_yolo_folder_end_to_end()
    {
        var polyps = Polyps(24, 8);
        var root = Path.Combine(dir, "yolo");
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(root).FullName, "classes.txt"), string.Join('\n', polyps.ClassNames) + "\n");
        foreach (var (name, split) in new[] { ("train", polyps.Train), ("test", polyps.Test) })
            for (int i = 0; i < split.Count; i++)
            {
                WritePng(Path.Combine(root, name, "images", $"{i:D3}.png"), split, i);
                var lines = split.Boxes(i).Select(b => string.Create(CultureInfo.InvariantCulture,
                    $"{b.Class} {(b.X1 + b.X2) / 2 / Size:R} {(b.Y1 + b.Y2) / 2 / Size:R} {b.Width / Size:R} {b.Height / Size:R}"));
                Directory.CreateDirectory(Path.Combine(root, name, "labels"));
                File.WriteAllLines(Path.Combine(root, name, "labels", $"{i:D3}.txt"), lines);
            }

        AssertTrains("yolo", root, "24 training and 8 test images");
    }

    [Fact]
    public void Should_train_a_coco_file_end_to_end()
    {
        var polyps = Polyps(30, 1);
        var root = Path.Combine(dir, "coco");
        var images = new List<object>();
        var annotations = new List<object>();
        for (int i = 0; i < polyps.Train.Count; i++)
        {
            WritePng(Path.Combine(root, "images", $"{i:D3}.png"), polyps.Train, i);
            images.Add(new { id = 100 + i, file_name = $"{i:D3}.png", width = Size, height = Size });
            foreach (var b in polyps.Train.Boxes(i))
                annotations.Add(new { id = annotations.Count + 1, image_id = 100 + i, category_id = 10 + b.Class, bbox = new[] { b.X1, b.Y1, b.Width, b.Height }, iscrowd = 0 });
        }
        var categories = polyps.ClassNames.Select((name, c) => new { id = 10 + c, name }).ToArray();
        File.WriteAllText(Path.Combine(root, "annotations.json"), JsonSerializer.Serialize(new { images, annotations, categories }));

        // One file: round(30 · 0.2) = 6 images go to test with the data seed.
        AssertTrains("coco", Path.Combine(root, "annotations.json"), "24 training and 6 test images");
    }

    private void AssertTrains(string dataset, string path, string counts)
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Task("detection").Dataset(dataset).DataPath(path)
            .Models("det-student", "det-student").Students(2).Epochs(1).BatchSize(8).MaxSteps(3).Output(dir, dataset),
            dir, TimeSpan.FromMinutes(4));

        Assert.True(r.ExitCode == (int)ExitCode.Completed, r.Output);
        Assert.Contains($"Dataset {dataset}: {counts}, 3x64x64, 2 classes", r.Output);
        Assert.Contains("eval epoch 1: student-ensemble map50=", r.Output);
        var run = Path.Combine(dir, dataset);
        var summary = File.ReadAllText(Path.Combine(run, "summary.md"));
        Assert.Contains("| model | mAP@0.5 | mAP@0.5:0.95 | AP@0.5 sessile | AP@0.5 pedunculated |", summary);
        foreach (var id in new[] { "teacher", "student-1", "student-2" })
            Assert.True(File.Exists(Path.Combine(run, "models", id + ".json")), $"missing the model card models/{id}.json");
        var eval = File.ReadAllLines(Path.Combine(run, "metrics", "eval.csv"));
        Assert.StartsWith("1,3,student-ensemble,ensemble,", eval[^1]);
    }
}
