using P2PDistill.Shared.Data;
using SkiaSharp;

namespace P2PDistill.Tests.Data;

[Trait("Category", "Unit")]
public sealed class ImageFolderDatasetSpecs : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly SKColor Red = new(200, 10, 10);
    private static readonly SKColor Blue = new(10, 20, 220);

    [Fact]
    public void Should_load_train_and_test_sub_folders_with_sorted_class_names()
    {
        for (int i = 0; i < 3; i++) TestFiles.WritePng(_dir.Combine("train", "zebra", $"{i}.png"), 20, 12, Red);
        for (int i = 0; i < 2; i++) TestFiles.WritePng(_dir.Combine("train", "ant", $"{i}.PNG"), 8, 8, Blue);
        TestFiles.WritePng(_dir.Combine("test", "zebra", "a.png"), 16, 16, Red);
        TestFiles.WritePng(_dir.Combine("test", "ant", "a.png"), 16, 16, Blue);
        File.WriteAllText(_dir.Combine("train", "ant", "notes.txt"), "not an image");

        var splits = ImageFolderDataset.Load(_dir.Path, size: 16, channels: 3, testFraction: 0.2, seed: 1);

        Assert.Equal(new[] { "ant", "zebra" }, splits.ClassNames);
        Assert.Equal(5, splits.Train.Count);
        Assert.Equal(2, splits.Test.Count);
        Assert.Equal(new ImageShape(3, 16, 16), splits.Shape);
        Assert.Equal(new[] { 0, 0, 1, 1, 1 }, Enumerable.Range(0, 5).Select(splits.Train.Label));
        var image = new byte[3 * 16 * 16];
        splits.Train.CopyImage(4, image); // a red zebra, resized from 20x12
        Assert.Equal(200, image[0]);
        Assert.Equal(10, image[256]);
        Assert.Equal(10, image[512 + 255]);
        splits.Test.CopyImage(0, image); // blue ant
        Assert.Equal(220, image[2 * 256 + 17]);
        Assert.Single(splits.Warnings);
        Assert.Contains("notes.txt", splits.Warnings[0]);
    }

    [Fact]
    public void Should_convert_to_grayscale()
    {
        TestFiles.WritePng(_dir.Combine("a", "x.png"), 4, 4, new SKColor(90, 90, 90));
        TestFiles.WritePng(_dir.Combine("a", "y.png"), 4, 4, new SKColor(90, 90, 90));
        TestFiles.WritePng(_dir.Combine("b", "x.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("b", "y.png"), 4, 4, Red);

        var splits = ImageFolderDataset.Load(_dir.Path, size: 4, channels: 1, testFraction: 0.5, seed: 3);

        Assert.Equal(new ImageShape(1, 4, 4), splits.Shape);
        var image = new byte[16];
        splits.Train.CopyImage(0, image);
        Assert.All(image, v => Assert.Equal(90, v));
        splits.Train.CopyImage(1, image);
        Assert.Equal((int)Math.Round(0.299 * 200 + 0.587 * 10 + 0.114 * 10), image[5]);
    }

    [Fact]
    public void Should_split_each_class_with_a_seed_when_there_is_no_train_and_test()
    {
        for (int i = 0; i < 10; i++) TestFiles.WritePng(_dir.Combine("cats", $"{i:D2}.png"), 6, 6, new SKColor((byte)(i * 10), 0, 0));
        for (int i = 0; i < 5; i++) TestFiles.WritePng(_dir.Combine("dogs", $"{i:D2}.jpg"), 6, 6, new SKColor(0, (byte)(i * 40), 0), SKEncodedImageFormat.Jpeg);

        var a = ImageFolderDataset.Load(_dir.Path, 6, 3, testFraction: 0.2, seed: 7);
        var b = ImageFolderDataset.Load(_dir.Path, 6, 3, testFraction: 0.2, seed: 7);
        var c = ImageFolderDataset.Load(_dir.Path, 6, 3, testFraction: 0.2, seed: 8);

        Assert.Equal(12, a.Train.Count);
        Assert.Equal(3, a.Test.Count); // 2 cats + 1 dog: stratified
        Assert.Equal(new[] { 0, 0, 1 }, Enumerable.Range(0, 3).Select(a.Test.Label));
        Assert.Equal(Fingerprint(a.Test), Fingerprint(b.Test));
        Assert.Equal(Fingerprint(a.Train), Fingerprint(b.Train));
        Assert.NotEqual(Fingerprint(a.Test), Fingerprint(c.Test));
        var all = Fingerprint(a.Train).Concat(Fingerprint(a.Test)).Order().ToArray();
        Assert.Equal(15, all.Distinct().Count());
    }

    private static string[] Fingerprint(IImageDataset dataset)
    {
        var buffer = new byte[dataset.Shape.Pixels];
        return Enumerable.Range(0, dataset.Count).Select(i =>
        {
            dataset.CopyImage(i, buffer);
            return $"{dataset.Label(i)}:{Convert.ToHexString(buffer)}";
        }).ToArray();
    }

    [Fact]
    public void Should_reject_a_missing_root()
    {
        string missing = _dir.Combine("missing");

        var e = Assert.Throws<DatasetException>(() => ImageFolderDataset.Load(missing, 8, 3, 0.2, 1));

        Assert.Contains(missing, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Should_reject_a_root_without_class_folders()
    {
        File.WriteAllText(_dir.Combine("readme.txt"), "hi");

        var e = Assert.Throws<DatasetException>(() => ImageFolderDataset.Load(_dir.Path, 8, 3, 0.2, 1));

        Assert.Contains(_dir.Path, e.Message);
        Assert.Contains("no class sub-folders", e.Message);
    }

    [Fact]
    public void Should_reject_a_class_folder_without_images()
    {
        TestFiles.WritePng(_dir.Combine("a", "1.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("a", "2.png"), 4, 4, Red);
        _dir.CreateDirectory("b");
        File.WriteAllText(_dir.Combine("b", "scan.tif"), "not supported");

        var e = Assert.Throws<DatasetException>(() => ImageFolderDataset.Load(_dir.Path, 4, 3, 0.2, 1));

        Assert.Contains(_dir.Combine("b"), e.Message);
        Assert.Contains("holds no images", e.Message);
        Assert.Contains("scan.tif", e.Message);
    }

    [Fact]
    public void Should_name_a_corrupt_png()
    {
        TestFiles.WritePng(_dir.Combine("a", "1.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("a", "2.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("b", "1.png"), 4, 4, Blue);
        string corrupt = _dir.Combine("b", "2.png");
        File.WriteAllBytes(corrupt, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5, 6]);

        var e = Assert.Throws<DatasetException>(() => ImageFolderDataset.Load(_dir.Path, 4, 3, 0.5, 1));

        Assert.Contains(corrupt, e.Message);
        Assert.Equal(corrupt, e.Path);
    }

    [Fact]
    public void Should_name_a_truncated_png()
    {
        TestFiles.WritePng(_dir.Combine("a", "1.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("a", "2.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("b", "1.png"), 4, 4, Blue);
        string truncated = _dir.Combine("b", "2.png");
        TestFiles.WritePng(truncated, 64, 64, Blue);
        var bytes = File.ReadAllBytes(truncated);
        File.WriteAllBytes(truncated, bytes.AsSpan(0, bytes.Length - 30).ToArray());

        var e = Assert.Throws<DatasetException>(() => ImageFolderDataset.Load(_dir.Path, 4, 3, 0.5, 1));

        Assert.Contains(truncated, e.Message);
    }

    [Fact]
    public void Should_reject_train_and_test_with_different_classes()
    {
        TestFiles.WritePng(_dir.Combine("train", "a", "1.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("train", "b", "1.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("test", "a", "1.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("test", "c", "1.png"), 4, 4, Red);

        var e = Assert.Throws<DatasetException>(() => ImageFolderDataset.Load(_dir.Path, 4, 3, 0.2, 1));

        Assert.Contains("Only in train/: b", e.Message);
        Assert.Contains("Only in test/: c", e.Message);
    }

    [Fact]
    public void Should_reject_train_without_test()
    {
        TestFiles.WritePng(_dir.Combine("train", "a", "1.png"), 4, 4, Red);
        TestFiles.WritePng(_dir.Combine("train", "b", "1.png"), 4, 4, Red);

        var e = Assert.Throws<DatasetException>(() => ImageFolderDataset.Load(_dir.Path, 4, 3, 0.2, 1));

        Assert.Contains("no test/", e.Message);
    }
}
