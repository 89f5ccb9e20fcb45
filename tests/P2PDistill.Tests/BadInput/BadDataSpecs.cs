using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;
using P2PDistill.Shared.Data;
using P2PDistill.Tests.Data;
using SkiaSharp;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// Bad datasets beyond what IdxReaderSpecs and ImageFolderDatasetSpecs cover: every error is a DatasetException naming
/// the file or folder and what to do. Small temporary files only.
/// </summary>
[Trait("Category", "Unit")]
public sealed class BadDataSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly SKColor Gray = new(120, 120, 120);


    // ------------------------------------------------------------------ IDX

    [Fact]
    public void Should_name_an_empty_idx_file()
    {
        TestFiles.WriteIdxSet(dir.Path, gzip: false);
        var path = dir.Combine("t10k-images-idx3-ubyte");
        File.WriteAllBytes(path, []);

        var e = Assert.Throws<DatasetException>(() => IdxDataset.LoadFashionMnist(dir.Path));

        Assert.Equal(path, e.Path);
        Assert.Contains($"IDX file '{path}' is too short for an IDX image file: 0 bytes", e.Message);
        Assert.Contains("truncated or empty; re-download or reinstall the dataset", e.Message);
    }

    [Fact]
    public void Should_name_an_idx_file_cut_inside_its_header()
    {
        var path = dir.Combine("labels.gz");
        File.WriteAllBytes(path, TestFiles.Gzip(TestFiles.IdxLabels(5).AsSpan(0, 6).ToArray()));

        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadLabels(path, 10));

        Assert.Contains($"'{path}' is too short for an IDX label file: 6 bytes, the header alone needs 8", e.Message);
    }

    [Fact]
    public void Should_name_an_implausible_header()
    {
        var path = dir.Combine("images");
        File.WriteAllBytes(path, TestFiles.IdxImages(1, 28, 28).AsSpan(0, 16).ToArray().Select((b, i) => i is >= 8 and < 12 ? (byte)0xFF : b).ToArray());

        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("implausible IDX header", e.Message);
        Assert.Contains("re-download or reinstall", e.Message);
    }

    [Fact]
    public void Should_name_both_files_when_the_test_split_counts_differ()
    {
        TestFiles.WriteIdxSet(dir.Path, gzip: true, train: 12, test: 5);
        File.WriteAllBytes(dir.Combine("t10k-labels-idx1-ubyte.gz"), TestFiles.Gzip(TestFiles.IdxLabels(6)));

        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Path = dir.Path }));

        Assert.Contains($"image file '{dir.Combine("t10k-images-idx3-ubyte.gz")}' holds 5 images", e.Message);
        Assert.Contains($"label file '{dir.Combine("t10k-labels-idx1-ubyte.gz")}' holds 6 labels", e.Message);
        Assert.Contains("re-download or reinstall", e.Message);
    }

    [Fact]
    public void Should_say_when_the_dataset_path_is_a_file()
    {
        var file = dir.Combine("train-images-idx3-ubyte");
        File.WriteAllBytes(file, TestFiles.IdxImages(2, 28, 28));

        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "mnist", Path = file }));

        Assert.Contains($"'{file}' is a file, not a directory", e.Message);
        Assert.Contains("--data-path", e.Message);
    }

    [Fact]
    public void Should_give_the_install_hint_when_the_fashion_mnist_folder_is_missing()
    {
        // An explicit missing folder, so that the test runs whether or not Fashion-MNIST is installed here.
        var missing = Path.Combine(dir.Path, "no-fashion-mnist");

        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Path = missing }));

        Assert.Contains($"'{missing}' does not exist", e.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("--data-path", e.Message);
    }

    // ------------------------------------------------------------------ image folder

    private DatasetSplits LoadFolder(string? root = null, double testFraction = 0.5) =>
        DatasetFactory.Load(new DataOptions { Dataset = "folder", Path = root ?? dir.Path, ImageSize = 8, Channels = 1, TestFraction = testFraction });

    [Fact]
    public void Should_name_an_empty_image_folder()
    {
        var e = Assert.Throws<DatasetException>(() => LoadFolder());

        Assert.Equal(dir.Path, e.Path);
        Assert.Contains($"Image folder '{dir.Path}' has no class sub-folders", e.Message);
        Assert.Contains("Put each class's images in a sub-folder named after the class", e.Message);
    }

    [Fact]
    public void Should_say_when_the_image_folder_path_is_a_file()
    {
        var file = dir.Combine("tiles.zip");
        File.WriteAllText(file, "PK");

        var e = Assert.Throws<DatasetException>(() => LoadFolder(file));

        Assert.Contains($"Image folder '{file}' is a file, not a directory", e.Message);
        Assert.Contains("--data-path", e.Message);
    }

    [Fact]
    public void Should_refuse_a_class_folder_of_only_non_image_files_and_warn_about_the_rest()
    {
        TestFiles.WritePng(dir.Combine("MSS", "a.png"), 8, 8, Gray);
        TestFiles.WritePng(dir.Combine("MSS", "b.png"), 8, 8, Gray);
        File.WriteAllText(dir.Combine("MSS", "Thumbs.db"), "x");
        dir.CreateDirectory("MSIMUT");
        File.WriteAllText(dir.Combine("MSIMUT", "slide.svs"), "x");
        File.WriteAllText(dir.Combine("MSIMUT", "notes.txt"), "x");

        var e = Assert.Throws<DatasetException>(() => LoadFolder());

        Assert.Equal(dir.Combine("MSIMUT"), e.Path);
        Assert.Contains($"Class folder '{dir.Combine("MSIMUT")}' holds no images (.png, .jpg, .jpeg, .bmp, .gif, .webp)", e.Message);
        Assert.Contains("it has 2 other file(s), e.g. 'notes.txt'", e.Message);
        Assert.Contains("Add images or remove the folder", e.Message);
    }

    [Fact]
    public void Should_ignore_non_image_and_hidden_files_with_a_warning_naming_them()
    {
        foreach (var c in new[] { "a", "b" })
        {
            TestFiles.WritePng(dir.Combine(c, "1.png"), 8, 8, Gray);
            TestFiles.WritePng(dir.Combine(c, "2.png"), 8, 8, Gray);
        }
        File.WriteAllText(dir.Combine("a", "._1.png"), "macOS resource fork");
        File.WriteAllText(dir.Combine("b", "labels.csv"), "x");

        var splits = LoadFolder();

        Assert.Equal(4, splits.Train.Count + splits.Test.Count);
        Assert.Equal(2, splits.Warnings.Count);
        Assert.Contains(splits.Warnings, w => w.Contains(dir.Combine("a")) && w.Contains("'._1.png'"));
        Assert.Contains(splits.Warnings, w => w.Contains(dir.Combine("b")) && w.Contains("'labels.csv'"));
    }

    [Fact]
    public void Should_name_an_image_file_that_is_text_and_say_what_to_do()
    {
        foreach (var c in new[] { "a", "b" })
        {
            TestFiles.WritePng(dir.Combine(c, "1.png"), 8, 8, Gray);
            TestFiles.WritePng(dir.Combine(c, "2.png"), 8, 8, Gray);
        }
        var fake = dir.Combine("b", "3.jpg");
        File.WriteAllText(fake, "<html>404 Not Found</html>");

        var e = Assert.Throws<DatasetException>(() => LoadFolder());

        Assert.Equal(fake, e.Path);
        Assert.Contains($"Image file '{fake}' cannot be decoded", e.Message);
        Assert.Contains("Replace or delete it", e.Message);
    }

    [Fact]
    public void Should_name_a_class_with_too_few_images_to_split()
    {
        TestFiles.WritePng(dir.Combine("a", "1.png"), 8, 8, Gray);
        TestFiles.WritePng(dir.Combine("a", "2.png"), 8, 8, Gray);
        TestFiles.WritePng(dir.Combine("b", "1.png"), 8, 8, Gray);

        var e = Assert.Throws<DatasetException>(() => LoadFolder());

        Assert.Contains($"'{dir.Combine("b")}' holds only 1 image", e.Message);
        Assert.Contains("Add images to it, or provide train/ and test/ sub-folders", e.Message);
    }

    [Fact]
    public void Should_name_an_image_file_that_cannot_be_opened()
    {
        foreach (var c in new[] { "a", "b" })
        {
            TestFiles.WritePng(dir.Combine(c, "1.png"), 8, 8, Gray);
            TestFiles.WritePng(dir.Combine(c, "2.png"), 8, 8, Gray);
        }
        var dangling = dir.Combine("b", "3.png");
        File.CreateSymbolicLink(dangling, dir.Combine("moved-away.png")); // works the same as root, unlike a permission test

        var e = Assert.Throws<DatasetException>(() => LoadFolder());

        Assert.Equal(dangling, e.Path);
        Assert.Contains($"Image file '{dangling}' cannot be read", e.Message);
        Assert.Contains("or delete it", e.Message);
    }
}
