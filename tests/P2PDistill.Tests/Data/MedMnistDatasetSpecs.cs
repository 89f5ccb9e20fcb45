using P2PDistill.Shared.Data;

namespace P2PDistill.Tests.Data;

/// <summary>MedMNIST .npz files: read stored or deflated, grey or RGB; every broken file refused with a message naming the file and array.</summary>
[Trait("Category", "Unit")]
public sealed class MedMnistDatasetSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private string WriteNpz(Dictionary<string, NpzFiles.Array> arrays, bool deflate = true, string name = "set.npz", int major = 1)
    {
        var path = dir.Combine(name);
        NpzFiles.Write(path, arrays, deflate, major);
        return path;
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    public void Should_read_the_three_splits_of_a_grey_file_stored_or_deflated(bool deflate, int npyVersion)
    {
        var path = WriteNpz(NpzFiles.MedMnist(side: 5, classes: 3, counts: (7, 2, 4)), deflate, major: npyVersion);

        var splits = MedMnistDataset.Load(path, "medmnist");

        Assert.Equal((7, 2, 4), (splits.Train.Count, splits.Val!.Count, splits.Test.Count));
        Assert.Equal(new ImageShape(1, 5, 5), splits.Shape);
        Assert.Equal(["0", "1", "2"], splits.ClassNames);
        var image = new byte[25];
        splits.Train.CopyImage(3, image);
        Assert.Equal((byte)(3 * 7 + 2 * 3 + 4), image[2 * 5 + 4]); // (y 2, x 4)
        Assert.Equal(0, splits.Train.Label(3));
        Assert.Equal(2, splits.Test.Label(2));
    }

    [Fact]
    public void Should_turn_channel_last_rgb_into_channel_first()
    {
        var path = WriteNpz(NpzFiles.MedMnist(side: 4, rgb: true));

        var splits = MedMnistDataset.Load(path, "medmnist");

        Assert.Equal(new ImageShape(3, 4, 4), splits.Shape);
        var image = new byte[3 * 16];
        splits.Val!.CopyImage(1, image);
        for (int c = 0; c < 3; c++)
            Assert.Equal((byte)(1 * 7 + 3 * 3 + 2 + c * 50), image[c * 16 + 3 * 4 + 2]); // channel c, (y 3, x 2)
    }

    [Theory]
    [InlineData("<i8", true)]
    [InlineData("<i4", false)]
    [InlineData("|u1", false)]
    public void Should_take_integer_labels_of_any_width_as_a_column_or_a_vector(string dtype, bool column)
    {
        var path = WriteNpz(NpzFiles.MedMnist(labelDtype: dtype, labelColumn: column));

        var splits = MedMnistDataset.Load(path, "medmnist");

        Assert.Equal(1, splits.Train.Label(5));
    }

    [Fact]
    public void Should_name_the_file_when_it_is_not_a_zip()
    {
        var path = dir.Combine("images.npz");
        File.WriteAllBytes(path, NpzFiles.Npy(new NpzFiles.Array("|u1", [2, 2], new byte[4])));

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains($"'{path}' is not a NumPy .npz file (a zip archive)", e.Message);
        Assert.Equal(path, e.Path);
    }

    [Fact]
    public void Should_name_the_array_whose_npy_magic_is_wrong()
    {
        var arrays = NpzFiles.MedMnist();
        var path = dir.Combine("bad-magic.npz");
        using (var file = File.Create(path))
        using (var zip = new System.IO.Compression.ZipArchive(file, System.IO.Compression.ZipArchiveMode.Create))
            foreach (var (name, a) in arrays)
            {
                var bytes = NpzFiles.Npy(a);
                if (name == "val_labels") bytes[1] = (byte)'X';
                using var s = zip.CreateEntry(name + ".npy").Open();
                s.Write(bytes);
            }

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains("array 'val_labels' is not a .npy array (bad magic", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Should_refuse_a_truncated_file_and_say_to_download_it_again(bool deflate)
    {
        var path = WriteNpz(NpzFiles.MedMnist(side: 16), deflate);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains($"'{path}'", e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("download it again", e.Message);
    }

    [Fact]
    public void Should_refuse_an_array_whose_data_is_shorter_than_its_shape()
    {
        var arrays = NpzFiles.MedMnist(side: 4);
        var a = arrays["test_images"];
        arrays["test_images"] = a with { Data = a.Data[..10] };
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains("array 'test_images' is truncated: its shape (4, 4, 4) needs 64 bytes of data, the file holds 10", e.Message);
    }

    [Theory]
    [InlineData("<f4", "has dtype '<f4', which is not an integer type")]
    [InlineData("<u2", "has dtype '<u2'; images must be uint8")]
    public void Should_refuse_images_of_another_dtype(string dtype, string expected)
    {
        var arrays = NpzFiles.MedMnist(side: 2);
        var a = arrays["train_images"];
        arrays["train_images"] = a with { Dtype = dtype, Data = new byte[a.Data.Length * (dtype == "<f4" ? 4 : 2)] };
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains($"array 'train_images' {expected}", e.Message);
    }

    [Fact]
    public void Should_refuse_float_labels()
    {
        var arrays = NpzFiles.MedMnist();
        arrays["val_labels"] = new NpzFiles.Array("<f8", [3, 1], new byte[24]);
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains("array 'val_labels' has dtype '<f8'", e.Message);
    }

    [Fact]
    public void Should_refuse_images_and_labels_of_different_counts()
    {
        var arrays = NpzFiles.MedMnist(counts: (6, 3, 4));
        arrays["test_labels"] = NpzFiles.Labels([0, 1, 0]);
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains("array 'test_images' holds 4 images but 'test_labels' holds 3 labels", e.Message);
    }

    [Fact]
    public void Should_name_a_missing_array_and_what_the_file_holds()
    {
        var arrays = NpzFiles.MedMnist();
        arrays.Remove("val_images");
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains("has no array 'val_images'; it holds train_images, train_labels, val_labels, test_images, test_labels", e.Message);
    }

    [Fact]
    public void Should_refuse_a_multi_label_file_like_chestmnist()
    {
        var arrays = NpzFiles.MedMnist(counts: (6, 3, 4));
        arrays["train_labels"] = new NpzFiles.Array("|u1", [6, 14], new byte[6 * 14]);
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains("array 'train_labels' has shape (6, 14): 14 labels per image, a multi-label data set (like ChestMNIST)", e.Message);
    }

    [Fact]
    public void Should_refuse_splits_of_different_image_sizes()
    {
        var arrays = NpzFiles.MedMnist(side: 4);
        var other = NpzFiles.MedMnist(side: 5);
        arrays["val_images"] = other["val_images"];
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "medmnist"));

        Assert.Contains("array 'val_images' holds 1x5x5 images but 'train_images' holds 1x4x4", e.Message);
    }

    [Fact]
    public void Should_refuse_a_label_outside_the_preset_classes()
    {
        var arrays = NpzFiles.MedMnist(classes: 3);
        var path = WriteNpz(arrays);

        var e = Assert.Throws<DatasetException>(() => MedMnistDataset.Load(path, "pneumoniamnist", DatasetFactory.PneumoniaMnistClasses));

        Assert.Contains("has label 2 at row 2, outside 0..1 (normal, pneumonia)", e.Message);
    }

    [Fact]
    public void Should_ask_for_the_file_of_a_medmnist_data_set()
    {
        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "medmnist" }));

        Assert.Contains("Dataset 'medmnist' needs --data-path", e.Message);
    }

    [Fact]
    public void Should_load_the_shipped_pneumoniamnist_with_its_official_splits()
    {
        var splits = DatasetFactory.Load(new DataOptions { Dataset = "pneumoniamnist" });

        Assert.Equal((4690, 524, 624), (splits.Train.Count, splits.Val!.Count, splits.Test.Count));
        Assert.Equal(new ImageShape(1, 28, 28), splits.Shape);
        Assert.Equal(["normal", "pneumonia"], splits.ClassNames);
        int Pneumonia(IImageDataset d) => Enumerable.Range(0, d.Count).Count(i => d.Label(i) == 1);
        Assert.Equal((3477, 389, 390), (Pneumonia(splits.Train), Pneumonia(splits.Val), Pneumonia(splits.Test))); // data/pneumoniamnist/README.md
    }
}
