using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Tests.Data;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Data;

[Trait("Category", "Unit")]
public sealed class CocoDetectionDatasetSpecs : IDisposable
{
    private static readonly SKColor White = new(250, 250, 250);
    private static readonly SKColor Black = new(5, 5, 5);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // Category ids out of order: 7 pedunculated, 3 sessile → classes [sessile, pedunculated].
    private static readonly object[] Categories = [new { id = 7, name = "pedunculated" }, new { id = 3, name = "sessile" }];

    private static object Image(long id, string file, int? width = 16, int? height = 16) => new { id, file_name = file, width, height };

    private static object Annotation(long id, long image, long category, params double[] bbox) => new { id, image_id = image, category_id = category, bbox, iscrowd = 0 };

    private string WriteJson(string name, object[] images, object[] annotations, object[]? categories = null)
    {
        string path = _dir.Combine(name);
        DetectionFiles.WriteText(path, JsonSerializer.Serialize(new { images, annotations, categories = categories ?? Categories }));
        return path;
    }

    private void WriteImage(string relative, int width = 16, int height = 16, params (int, int, int, int, SKColor)[] rectangles) =>
        DetectionFiles.WriteImage(_dir.Combine(relative), width, height, White, rectangles);

    /// <summary>train.json (a.png, one box) and test.json (b.png, one box) beside images/.</summary>
    private void WriteMinimal(object[]? trainAnnotations = null, object[]? trainImages = null)
    {
        WriteImage("images/a.png");
        WriteImage("images/b.png");
        WriteJson("train.json", trainImages ?? [Image(1, "a.png")], trainAnnotations ?? [Annotation(10, 1, 3, 4, 4, 8, 8)]);
        WriteJson("test.json", [Image(2, "b.png")], [Annotation(11, 2, 7, 0, 0, 16, 16)]);
    }

    private DatasetException LoadFails() => Assert.Throws<DatasetException>(() => CocoDetectionDataset.Load(_dir.Path, size: 16, channels: 3));

    [Fact]
    public void Should_map_category_ids_in_id_order_and_letterbox_the_boxes()
    {
        // Wide 40x20 with a black rectangle (10,5)-(30,15): at 32 it is 32x16 at top 8, the box (8,12)-(24,20).
        WriteImage("images/wide.png", 40, 20, (10, 5, 30, 15, Black));
        WriteImage("images/tall.png", 20, 40);
        WriteImage("images/b.png");
        WriteJson("train.json", [Image(5, "wide.png", 40, 20), Image(6, "tall.png", 20, 40)],
            [Annotation(1, 5, 7, 10, 5, 20, 10), Annotation(2, 6, 3, 0, 20, 10, 20), Annotation(3, 5, 3, 0, 0, 4, 4)]);
        WriteJson("test.json", [Image(1, "b.png")], []);

        var splits = CocoDetectionDataset.Load(_dir.Path, size: 32, channels: 3);

        Assert.Equal(new[] { "sessile", "pedunculated" }, splits.ClassNames);
        Assert.Equal(2, splits.Train.Count);
        var wide = splits.Train.Boxes(0);
        DetectionFiles.AssertBox(new Box(1, 8, 12, 24, 20), wide[0]);
        DetectionFiles.AssertBox(new Box(0, 0, 8, 3.2f, 11.2f), wide[1]);
        DetectionFiles.AssertBox(new Box(0, 8, 16, 16, 32), splits.Train.Boxes(1).Single());
        var image = DetectionFiles.Image(splits.Train, 0);
        Assert.Equal(Letterbox.Padding, DetectionFiles.At(image, 32, 0, 3, 16));
        Assert.True(DetectionFiles.At(image, 32, 0, 16, 16) < 20);
        Assert.Empty(splits.Test.Boxes(0));
        Assert.Contains(splits.Warnings, w => w.Contains("test.json") && w.Contains("background"));
    }

    [Fact]
    public void Should_split_a_single_file_with_a_seed_given_the_folder_or_the_file()
    {
        var images = new List<object>();
        var annotations = new List<object>();
        for (int i = 0; i < 10; i++)
        {
            DetectionFiles.WriteImage(_dir.Combine("images", $"{i}.png"), 16, 16, new SKColor((byte)(20 * i), 0, 0));
            images.Add(Image(100 + i, $"{i}.png"));
            annotations.Add(Annotation(i, 100 + i, i % 2 == 0 ? 3 : 7, 0, 0, 8, 8));
        }
        string json = WriteJson("annotations.json", images.ToArray(), annotations.ToArray());

        var a = CocoDetectionDataset.Load(_dir.Path, 16, 3, testFraction: 0.3, seed: 4);
        var b = CocoDetectionDataset.Load(json, 16, 3, testFraction: 0.3, seed: 4);
        var c = CocoDetectionDataset.Load(_dir.Path, 16, 3, testFraction: 0.3, seed: 5);

        Assert.Equal(7, a.Train.Count);
        Assert.Equal(3, a.Test.Count);
        string Reds(IDetectionDataset d) => string.Join(",", Enumerable.Range(0, d.Count).Select(i => DetectionFiles.Image(d, i)[0]));
        Assert.Equal(Reds(a.Test), Reds(b.Test));
        Assert.NotEqual(Reds(a.Test), Reds(c.Test));
        for (int i = 0; i < a.Test.Count; i++) // red 20·i carries class i % 2
            Assert.Equal(DetectionFiles.Image(a.Test, i)[0] / 20 % 2, a.Test.Boxes(i).Single().Class);
    }

    [Fact]
    public void Should_find_split_files_under_annotations_and_images_per_split()
    {
        WriteImage("images/train/a.png");
        WriteImage("images/val/a.png", 32, 16);
        WriteImage("images/test/a.png");
        WriteJson("annotations/instances_train.json", [Image(1, "a.png")], [Annotation(1, 1, 3, 0, 0, 4, 4)]);
        WriteJson("annotations/instances_val.json", [Image(1, "a.png", 32, 16)], [Annotation(1, 1, 7, 0, 0, 32, 16)]);
        WriteJson("annotations/test.json", [Image(1, "a.png")], []);

        var splits = CocoDetectionDataset.Load(_dir.Path, size: 16, channels: 1);

        Assert.Equal(new ImageShape(1, 16, 16), splits.Shape);
        DetectionFiles.AssertBox(new Box(1, 0, 4, 16, 12), splits.Val!.Boxes(0).Single());
        Assert.Single(splits.Train.Boxes(0));
        Assert.Empty(splits.Test.Boxes(0));
    }

    [Fact]
    public void Should_load_one_file_against_a_given_image_folder()
    {
        WriteImage("pictures/a.png", 32, 32);
        string json = WriteJson("labels.json", [Image(1, "a.png", 32, 32)], [Annotation(1, 1, 7, 8, 8, 16, 16)]);

        var (dataset, warnings) = CocoDetectionDataset.LoadFile(json, _dir.Combine("pictures"), size: 16, channels: 3);

        Assert.Equal(1, dataset.Count);
        DetectionFiles.AssertBox(new Box(1, 4, 4, 12, 12), dataset.Boxes(0).Single());
        Assert.Empty(warnings);
    }

    [Fact]
    public void Should_skip_crowd_annotations_with_a_warning()
    {
        WriteMinimal(trainAnnotations: [Annotation(1, 1, 3, 0, 0, 4, 4), new { id = 2, image_id = 1, category_id = 3, bbox = new[] { 0.0, 0, 16, 16 }, iscrowd = 1 }]);

        var splits = CocoDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        Assert.Single(splits.Train.Boxes(0));
        Assert.Contains(splits.Warnings, w => w.Contains("skipped 1 iscrowd"));
    }

    [Fact]
    public void Should_scale_boxes_to_the_decoded_size_when_the_file_disagrees()
    {
        WriteMinimal(trainImages: [Image(1, "a.png", 32, 32)], trainAnnotations: [Annotation(1, 1, 3, 8, 8, 16, 16)]);

        var splits = CocoDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        DetectionFiles.AssertBox(new Box(0, 4, 4, 12, 12), splits.Train.Boxes(0).Single());
        Assert.Contains(splits.Warnings, w => w.Contains("is 16x16 but the file says 32x32"));
    }

    [Fact]
    public void Should_clip_a_box_partly_outside_its_image_and_warn()
    {
        WriteMinimal(trainAnnotations: [Annotation(1, 1, 3, 12, -4, 8, 8), Annotation(2, 1, 3, 0, 0, 16.2, 16)]);

        var splits = CocoDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        var boxes = splits.Train.Boxes(0);
        DetectionFiles.AssertBox(new Box(0, 12, 0, 16, 4), boxes[0]);
        DetectionFiles.AssertBox(new Box(0, 0, 0, 16, 16), boxes[1]); // 0.2 px over: rounding, clipped without a word
        var warning = Assert.Single(splits.Warnings, w => w.Contains("clipped"));
        Assert.Contains("annotations[0] (id 1)", warning);
    }

    [Fact]
    public void Should_reject_an_annotation_of_a_missing_image_id()
    {
        WriteMinimal(trainAnnotations: [Annotation(10, 1, 3, 0, 0, 4, 4), Annotation(11, 99, 3, 0, 0, 4, 4)]);

        var e = LoadFails();

        Assert.Contains(_dir.Combine("train.json"), e.Message);
        Assert.Contains("annotations[1] (id 11): image_id 99 is not among the images", e.Message);
    }

    [Fact]
    public void Should_reject_a_missing_image_file()
    {
        WriteMinimal(trainImages: [Image(1, "a.png"), Image(2, "gone.png")]);

        var e = LoadFails();

        Assert.Contains(_dir.Combine("train.json"), e.Message);
        Assert.Contains("images[1] (id 2) names 'gone.png'", e.Message);
        Assert.Contains(_dir.Combine("images", "gone.png"), e.Message);
    }

    [Fact]
    public void Should_reject_an_unknown_category()
    {
        WriteMinimal(trainAnnotations: [Annotation(10, 1, 4, 0, 0, 4, 4)]);

        var e = LoadFails();

        Assert.Contains("category_id 4 is not among the categories (3:sessile, 7:pedunculated)", e.Message);
    }

    [Theory]
    [InlineData(20, 20, 4, 4, "entirely outside its 16x16 image")]
    [InlineData(-8, 0, 8, 4, "entirely outside")]
    [InlineData(0, 0, 0, 4, "both must be positive")]
    [InlineData(0, 0, 4, -1, "both must be positive")]
    public void Should_reject_a_box_outside_its_image_or_without_area(double x, double y, double w, double h, string expected)
    {
        WriteMinimal(trainAnnotations: [Annotation(10, 1, 3, x, y, w, h)]);

        var e = LoadFails();

        Assert.Contains("annotations[0] (id 10)", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Should_reject_malformed_json_naming_the_line()
    {
        WriteMinimal();
        DetectionFiles.WriteText(_dir.Combine("train.json"), "{\n  \"images\": [\n    {\"id\": 1,, \"file_name\": \"a.png\"}\n  ]\n}");

        var e = LoadFails();

        Assert.Contains(_dir.Combine("train.json") + ":3", e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Theory]
    [InlineData("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], \"annotations\": []}", "there is no \"categories\" list")]
    [InlineData("{\"images\": [{\"file_name\": \"a.png\"}], \"categories\": [{\"id\": 1, \"name\": \"p\"}]}", "images[0] has no whole-number \"id\"")]
    [InlineData("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], \"categories\": [{\"id\": 1, \"name\": \"p\"}], \"annotations\": [{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3]}]}", "bbox must be [x, y, width, height]")]
    [InlineData("[1, 2]", "the top level is not a JSON object")]
    public void Should_reject_a_file_with_missing_or_malformed_fields(string json, string expected)
    {
        WriteMinimal();
        DetectionFiles.WriteText(_dir.Combine("train.json"), json);

        var e = LoadFails();

        Assert.Contains(expected, e.Message);
        Assert.Equal(_dir.Combine("train.json"), e.Path);
    }

    [Fact]
    public void Should_reject_split_files_with_different_categories()
    {
        WriteMinimal();
        WriteJson("test.json", [Image(2, "b.png")], [], [new { id = 3, name = "sessile" }]);

        var e = LoadFails();

        Assert.Contains("list different categories", e.Message);
    }

    [Fact]
    public void Should_reject_a_folder_with_several_unnamed_json_files()
    {
        WriteImage("images/a.png");
        WriteJson("one.json", [Image(1, "a.png")], []);
        WriteJson("two.json", [Image(1, "a.png")], []);

        var e = LoadFails();

        Assert.Contains("several JSON files (one.json, two.json)", e.Message);
    }
}
