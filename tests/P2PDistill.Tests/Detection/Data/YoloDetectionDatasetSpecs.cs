using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Tests.Data;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Data;

[Trait("Category", "Unit")]
public sealed class YoloDetectionDatasetSpecs : IDisposable
{
    private static readonly SKColor White = new(250, 250, 250);
    private static readonly SKColor Black = new(5, 5, 5);
    private static readonly SKColor Red = new(200, 20, 20);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A root with classes.txt (polyp, adenoma) and a train split holding a.png (16x16, one box) unless told otherwise.</summary>
    private void WriteSplit(string split, string name, int width, int height, string? label, params (int, int, int, int, SKColor)[] rectangles)
    {
        DetectionFiles.WriteImage(_dir.Combine(split, "images", name + ".png"), width, height, White, rectangles);
        if (label is not null) DetectionFiles.WriteText(_dir.Combine(split, "labels", name + ".txt"), label);
        Directory.CreateDirectory(_dir.Combine(split, "labels"));
    }

    private void WriteMinimal(string trainLabel = "0 0.5 0.5 0.5 0.5\n")
    {
        DetectionFiles.WriteText(_dir.Combine("classes.txt"), "polyp\nadenoma\n");
        WriteSplit("train", "a", 16, 16, trainLabel);
        WriteSplit("test", "b", 16, 16, "1 0.25 0.25 0.5 0.5\n");
    }

    [Fact]
    public void Should_letterbox_images_and_move_their_boxes_alike()
    {
        DetectionFiles.WriteText(_dir.Combine("classes.txt"), "polyp\nadenoma\n\n");
        // Wide 40x20, a black rectangle (10,5)-(30,15): at 32 it becomes 32x16 at top 8, the box (8,12)-(24,20).
        WriteSplit("train", "wide", 40, 20, "1 0.5 0.5 0.5 0.5\n", (10, 5, 30, 15, Black));
        // Tall 20x40, a red rectangle (0,20)-(10,40): 16x32 at left 8, the box (8,16)-(16,32).
        WriteSplit("train", "tall", 20, 40, "0 0.25 0.75 0.5 0.5\n", (0, 20, 10, 40, Red));
        // 30x10 with two boxes: 32x11 at top 10 (x scale 16/15, y scale 1.1).
        WriteSplit("test", "flat", 30, 10, "0 0.75 0.5 0.5 1\n1 0.25 0.25 0.1 0.2\n");

        var splits = YoloDetectionDataset.Load(_dir.Path, size: 32, channels: 3);

        Assert.Equal(new[] { "polyp", "adenoma" }, splits.ClassNames);
        Assert.Equal(new ImageShape(3, 32, 32), splits.Shape);
        Assert.Equal(2, splits.Train.Count);
        Assert.Null(splits.Val);
        var tall = splits.Train; // ordinal order: tall.png, wide.png
        DetectionFiles.AssertBox(new Box(0, 8, 16, 16, 32), tall.Boxes(0).Single());
        DetectionFiles.AssertBox(new Box(1, 8, 12, 24, 20), tall.Boxes(1).Single());
        var wide = DetectionFiles.Image(splits.Train, 1);
        Assert.Equal(Letterbox.Padding, DetectionFiles.At(wide, 32, 0, 2, 16));   // padding above
        Assert.Equal(Letterbox.Padding, DetectionFiles.At(wide, 32, 2, 29, 16));  // padding below
        Assert.True(DetectionFiles.At(wide, 32, 0, 16, 16) < 20);                 // the rectangle, inside its box
        Assert.True(DetectionFiles.At(wide, 32, 0, 16, 3) > 230);                 // white beside it
        var tallImage = DetectionFiles.Image(splits.Train, 0);
        Assert.Equal(Letterbox.Padding, DetectionFiles.At(tallImage, 32, 1, 16, 3)); // padding left
        Assert.True(DetectionFiles.At(tallImage, 32, 0, 24, 12) > 190 && DetectionFiles.At(tallImage, 32, 1, 24, 12) < 30);
        var flat = splits.Test.Boxes(0);
        Assert.Equal(2, flat.Count);
        DetectionFiles.AssertBox(new Box(0, 16, 10, 32, 21), flat[0]);
        DetectionFiles.AssertBox(new Box(1, 6.4f, 11.65f, 9.6f, 13.85f), flat[1]);
    }

    [Fact]
    public void Should_convert_to_grayscale_with_grey_padding()
    {
        WriteMinimal();
        DetectionFiles.WriteImage(_dir.Combine("train", "images", "c.png"), 32, 16, new SKColor(90, 90, 90));

        var splits = YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 1);

        Assert.Equal(new ImageShape(1, 16, 16), splits.Shape);
        var image = DetectionFiles.Image(splits.Train, 1);
        Assert.Equal(Letterbox.Padding, image[0]);
        Assert.Equal(90, image[8 * 16 + 8]);
    }

    [Fact]
    public void Should_read_the_ultralytics_layout_with_data_yaml_names_and_use_val_as_test()
    {
        DetectionFiles.WriteText(_dir.Combine("data.yaml"), "path: .\ntrain: images/train\nval: images/val\nnc: 3\nnames:\n  - sessile   # flat\n  - 'pedunculated'\n  - \"other one\"\n");
        DetectionFiles.WriteImage(_dir.Combine("images", "train", "x.png"), 16, 16, White);
        DetectionFiles.WriteText(_dir.Combine("labels", "train", "x.txt"), "2 0.5 0.5 0.25 0.25");
        DetectionFiles.WriteImage(_dir.Combine("images", "val", "y.jpg"), 16, 16, White, SKEncodedImageFormat.Jpeg);
        DetectionFiles.WriteText(_dir.Combine("labels", "val", "y.txt"), "0 0.5 0.5 1 1");

        var splits = YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        Assert.Equal(new[] { "sessile", "pedunculated", "other one" }, splits.ClassNames);
        DetectionFiles.AssertBox(new Box(2, 6, 6, 10, 10), splits.Train.Boxes(0).Single());
        DetectionFiles.AssertBox(new Box(0, 0, 0, 16, 16), splits.Test.Boxes(0).Single());
        Assert.Null(splits.Val);
        Assert.Contains(splits.Warnings, w => w.Contains("val is used as the test split"));
    }

    [Fact]
    public void Should_keep_a_val_split_beside_test()
    {
        WriteMinimal();
        WriteSplit("val", "v", 16, 16, "1 0.5 0.5 0.5 0.5");

        var splits = YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        Assert.NotNull(splits.Val);
        Assert.Equal(1, splits.Val!.Boxes(0).Single().Class);
        Assert.Equal(1, splits.Test.Count);
    }

    [Theory]
    [InlineData("names: [a, 'b', \"c d\"]\n", new[] { "a", "b", "c d" })]
    [InlineData("nc: 2\nnames:\n- a\n- b\ntrain: x\n", new[] { "a", "b" })]
    [InlineData("names:\n  1: b\n  0: a # first\n", new[] { "a", "b" })]
    [InlineData("names: {0: a, 1: 'b'}\n", new[] { "a", "b" })]
    public void Should_read_every_form_of_the_yaml_names_list(string yaml, string[] expected)
    {
        Assert.Equal(expected, YoloDetectionDataset.ParseYamlNames(yaml));
    }

    [Fact]
    public void Should_read_no_names_from_a_yaml_without_them()
    {
        Assert.Null(YoloDetectionDataset.ParseYamlNames("train: images/train\nnc: 2\n"));
    }

    [Fact]
    public void Should_split_a_flat_folder_with_a_seed_and_name_classes_from_the_count()
    {
        for (int i = 0; i < 10; i++)
        {
            DetectionFiles.WriteImage(_dir.Combine("images", $"{i:D2}.png"), 16, 16, new SKColor((byte)(20 * i), 0, 0));
            DetectionFiles.WriteText(_dir.Combine("labels", $"{i:D2}.txt"), $"{i % 3} 0.5 0.5 0.5 0.5\n");
        }

        var a = YoloDetectionDataset.Load(_dir.Path, 16, 3, classes: 3, testFraction: 0.2, seed: 7);
        var b = YoloDetectionDataset.Load(_dir.Path, 16, 3, classes: 3, testFraction: 0.2, seed: 7);
        var c = YoloDetectionDataset.Load(_dir.Path, 16, 3, classes: 3, testFraction: 0.2, seed: 8);

        Assert.Equal(new[] { "class0", "class1", "class2" }, a.ClassNames);
        Assert.Equal(8, a.Train.Count);
        Assert.Equal(2, a.Test.Count);
        string Reds(IDetectionDataset d) => string.Join(",", Enumerable.Range(0, d.Count).Select(i => DetectionFiles.Image(d, i)[0]));
        Assert.Equal(Reds(a.Test), Reds(b.Test));
        Assert.NotEqual(Reds(a.Test), Reds(c.Test));
        Assert.Equal(10, Reds(a.Train).Split(',').Concat(Reds(a.Test).Split(',')).Distinct().Count());
        // Each image keeps its own label: red 20·i carries class i % 3.
        for (int i = 0; i < a.Test.Count; i++)
            Assert.Equal(DetectionFiles.Image(a.Test, i)[0] / 20 % 3, a.Test.Boxes(i).Single().Class);
    }

    [Fact]
    public void Should_treat_images_without_a_label_file_or_with_an_empty_one_as_background()
    {
        WriteMinimal();
        WriteSplit("train", "no-label", 16, 16, label: null);
        WriteSplit("train", "empty", 16, 16, label: "\n  \n");

        var splits = YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        Assert.Equal(3, splits.Train.Count); // a, empty, no-label
        Assert.Single(splits.Train.Boxes(0));
        Assert.Empty(splits.Train.Boxes(1));
        Assert.Empty(splits.Train.Boxes(2));
        Assert.Contains(splits.Warnings, w => w.Contains("2 of 3 image(s)") && w.Contains("1 without a label file, 1 with an empty one") && w.Contains("background"));
    }

    [Fact]
    public void Should_note_label_files_without_an_image()
    {
        WriteMinimal();
        DetectionFiles.WriteText(_dir.Combine("train", "labels", "ghost.txt"), "0 0.5 0.5 0.1 0.1");

        var splits = YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        Assert.Contains(splits.Warnings, w => w.Contains("without an image") && w.Contains("ghost.txt"));
    }

    [Fact]
    public void Should_clip_a_box_partly_outside_the_image_and_warn()
    {
        WriteMinimal(trainLabel: "0 0.9 0.5 0.4 0.5\n0 0.5 0.5 0.5 1.0000001\n");

        var splits = YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3);

        var boxes = splits.Train.Boxes(0);
        DetectionFiles.AssertBox(new Box(0, 11.2f, 4, 16, 12), boxes[0]);
        DetectionFiles.AssertBox(new Box(0, 4, 0, 12, 16), boxes[1]); // rounding: clipped without a word
        var warning = Assert.Single(splits.Warnings, w => w.Contains("clipped"));
        Assert.Contains(Path.Combine("train", "labels", "a.txt") + ":1'", warning);
    }

    [Theory]
    [InlineData("0 1.5 0.5 0.2 0.2", "entirely outside")]
    [InlineData("0 320 240 50 60", "divided by the image width and height")]
    [InlineData("0 0.5 0.5 0 0.2", "both must be positive")]
    [InlineData("0 0.5 0.5 0.2 -0.1", "both must be positive")]
    [InlineData("2 0.5 0.5 0.2 0.2", "class 2 but the dataset has 2 class(es), 0..1")]
    [InlineData("-1 0.5 0.5 0.2 0.2", "class -1")]
    [InlineData("0 0.5 0.5 0.2", "has 4 field(s)")]
    [InlineData("0 0.5 0.5 0.2 0.2 0.3 0.4", "segmentation polygons")]
    [InlineData("a 0.5 0.5 0.2 0.2", "not a whole number")]
    [InlineData("0.0 0.5 0.5 0.2 0.2", "not a whole number")]
    [InlineData("0 0,5 0.5 0.2 0.2", "'0,5' is not a number")]
    [InlineData("0 0.5 NaN 0.2 0.2", "'NaN' is not a number")]
    public void Should_reject_a_bad_label_line_naming_file_and_line(string line, string expected)
    {
        WriteMinimal(trainLabel: $"1 0.5 0.5 0.5 0.5\n\n{line}\n");

        var e = Assert.Throws<DatasetException>(() => YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3));

        Assert.Contains(expected, e.Message);
        Assert.Contains(_dir.Combine("train", "labels", "a.txt") + ":3", e.Message);
        Assert.Equal(_dir.Combine("train", "labels", "a.txt"), e.Path);
    }

    [Fact]
    public void Should_ask_for_the_class_count_when_there_is_no_names_file()
    {
        WriteMinimal();
        File.Delete(_dir.Combine("classes.txt"));

        var e = Assert.Throws<DatasetException>(() => YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3));

        Assert.Contains("--classes", e.Message);
        Assert.Contains("classes.txt", e.Message);
    }

    [Fact]
    public void Should_reject_a_class_count_that_disagrees_with_classes_txt()
    {
        WriteMinimal();

        var e = Assert.Throws<DatasetException>(() => YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3, classes: 3));

        Assert.Contains("--classes is 3", e.Message);
        Assert.Contains("names 2 classes", e.Message);
    }

    [Fact]
    public void Should_reject_a_split_without_a_labels_folder()
    {
        WriteMinimal();
        Directory.Delete(_dir.Combine("test", "labels"), recursive: true);

        var e = Assert.Throws<DatasetException>(() => YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3));

        Assert.Contains(_dir.Combine("test", "labels"), e.Message);
        Assert.Contains("background image", e.Message);
    }

    [Fact]
    public void Should_reject_train_without_test_or_val()
    {
        WriteMinimal();
        Directory.Delete(_dir.Combine("test"), recursive: true);

        var e = Assert.Throws<DatasetException>(() => YoloDetectionDataset.Load(_dir.Path, size: 16, channels: 3));

        Assert.Contains("no test or val split", e.Message);
    }

    [Theory]
    [InlineData(20, 3, "multiple of 16")]
    [InlineData(16, 2, "Data:Channels")]
    public void Should_reject_a_bad_size_or_channel_count(int size, int channels, string expected)
    {
        WriteMinimal();

        var e = Assert.Throws<DatasetException>(() => YoloDetectionDataset.Load(_dir.Path, size, channels));

        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Should_reject_a_missing_folder()
    {
        var e = Assert.Throws<DatasetException>(() => YoloDetectionDataset.Load(_dir.Combine("nope"), 16, 3));

        Assert.Contains("does not exist", e.Message);
    }
}
