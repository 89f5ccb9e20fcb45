using P2PDistill.Shared.Data;

namespace P2PDistill.Tests.Data;

[Trait("Category", "Unit")]
public sealed class IdxReaderSpecs : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_read_a_valid_fashion_mnist_directory_raw_or_gzip(bool gzip)
    {
        TestFiles.WriteIdxSet(_dir.Path, gzip, train: 12, test: 5);

        var splits = IdxDataset.LoadFashionMnist(_dir.Path);

        Assert.Equal(12, splits.Train.Count);
        Assert.Equal(5, splits.Test.Count);
        Assert.Equal(new ImageShape(1, 28, 28), splits.Shape);
        Assert.Equal(10, splits.NumClasses);
        Assert.Equal("T-shirt/top", splits.ClassNames[0]);
        Assert.Equal("Ankle boot", splits.ClassNames[9]);
        var image = new byte[784];
        splits.Train.CopyImage(3, image);
        Assert.Equal((byte)((3 * 31 + 100) % 256), image[100]);
        Assert.Equal(3, splits.Train.Label(3));
        splits.Test.CopyImage(2, image);
        Assert.Equal((byte)(255 - (2 + 5)), image[5]);
        Assert.Equal(7, splits.Test.Label(2));
    }

    [Fact]
    public void Should_detect_gzip_by_magic_whatever_the_extension()
    {
        string path = _dir.Combine("labels-without-gz-extension");
        File.WriteAllBytes(path, TestFiles.Gzip(TestFiles.IdxLabels(4)));

        Assert.True(IdxReader.IsGzip(path));
        Assert.Equal(new[] { 0, 1, 2, 3 }, IdxReader.ReadLabels(path, 10));
    }

    [Fact]
    public void Should_find_files_in_the_torchvision_raw_folder_and_with_dotted_names()
    {
        string raw = _dir.CreateDirectory("raw");
        File.WriteAllBytes(Path.Combine(raw, "train-images.idx3-ubyte"), TestFiles.IdxImages(3, 28, 28));
        File.WriteAllBytes(Path.Combine(raw, "train-labels.idx1-ubyte"), TestFiles.IdxLabels(3));
        File.WriteAllBytes(Path.Combine(raw, "t10k-images.idx3-ubyte"), TestFiles.IdxImages(2, 28, 28));
        File.WriteAllBytes(Path.Combine(raw, "t10k-labels.idx1-ubyte"), TestFiles.IdxLabels(2));

        var splits = IdxDataset.LoadMnist(_dir.Path);

        Assert.Equal(3, splits.Train.Count);
        Assert.Equal("7", splits.ClassNames[7]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_reject_a_wrong_magic_number_naming_the_file(bool gzip)
    {
        TestFiles.WriteIdxSet(_dir.Path, gzip);
        string path = _dir.Combine("train-images-idx3-ubyte" + (gzip ? ".gz" : ""));
        var bad = TestFiles.IdxImages(12, 28, 28, magic: 0x00000802);
        File.WriteAllBytes(path, gzip ? TestFiles.Gzip(bad) : bad);

        var e = Assert.Throws<DatasetException>(() => IdxDataset.LoadFashionMnist(_dir.Path));

        Assert.Contains(path, e.Message);
        Assert.Contains("magic number 0x00000802", e.Message);
        Assert.Contains("0x00000803", e.Message);
        Assert.Equal(path, e.Path);
    }

    [Fact]
    public void Should_say_when_image_and_label_files_are_swapped()
    {
        string path = _dir.Combine("images");
        File.WriteAllBytes(path, TestFiles.IdxLabels(2));

        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));

        Assert.Contains("looks like a label file", e.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_reject_a_truncated_file(bool gzip)
    {
        string path = _dir.Combine("images");
        var data = TestFiles.IdxImages(10, 28, 28);
        var truncated = data.AsSpan(0, data.Length - 100).ToArray();
        File.WriteAllBytes(path, gzip ? TestFiles.Gzip(truncated) : truncated);

        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains($"{data.Length - 116} of the 7840", e.Message);
    }

    [Fact]
    public void Should_reject_a_truncated_gzip_stream()
    {
        string path = _dir.Combine("images.gz");
        var gz = TestFiles.Gzip(TestFiles.IdxImages(50, 28, 28));
        File.WriteAllBytes(path, gz.AsSpan(0, gz.Length / 2).ToArray());

        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Should_reject_a_file_longer_than_its_header_says()
    {
        string path = _dir.Combine("labels");
        File.WriteAllBytes(path, [.. TestFiles.IdxLabels(5), 1, 2]);

        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadLabels(path, 10));

        Assert.Contains("data after", e.Message);
    }

    [Fact]
    public void Should_reject_a_label_outside_the_classes()
    {
        string path = _dir.Combine("labels");
        File.WriteAllBytes(path, TestFiles.IdxLabels(5, i => (byte)(i == 3 ? 10 : 0)));

        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadLabels(path, 10));

        Assert.Contains(path, e.Message);
        Assert.Contains("label 10 at index 3", e.Message);
    }

    [Fact]
    public void Should_reject_a_count_mismatch_between_images_and_labels()
    {
        TestFiles.WriteIdxSet(_dir.Path, gzip: false, train: 12);
        File.WriteAllBytes(_dir.Combine("train-labels-idx1-ubyte"), TestFiles.IdxLabels(11));

        var e = Assert.Throws<DatasetException>(() => IdxDataset.LoadFashionMnist(_dir.Path));

        Assert.Contains("12 images", e.Message);
        Assert.Contains("11 labels", e.Message);
        Assert.Contains(_dir.Combine("train-images-idx3-ubyte"), e.Message);
        Assert.Contains(_dir.Combine("train-labels-idx1-ubyte"), e.Message);
    }

    [Fact]
    public void Should_give_the_apt_hint_for_a_missing_directory()
    {
        string missing = _dir.Combine("nope");

        var e = Assert.Throws<DatasetException>(() => IdxDataset.LoadFashionMnist(missing));

        Assert.Contains(missing, e.Message);
        Assert.Contains("sudo apt-get install dataset-fashion-mnist (installs to /usr/share/datasets/fashion-mnist)", e.Message);
    }

    [Fact]
    public void Should_give_the_apt_hint_for_a_missing_file()
    {
        TestFiles.WriteIdxSet(_dir.Path, gzip: true);
        File.Delete(_dir.Combine("t10k-labels-idx1-ubyte.gz"));

        var e = Assert.Throws<DatasetException>(() => IdxDataset.LoadFashionMnist(_dir.Path));

        Assert.Contains("t10k-labels-idx1-ubyte", e.Message);
        Assert.Contains("sudo apt-get install dataset-fashion-mnist", e.Message);
    }
}
