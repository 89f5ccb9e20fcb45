using P2PDistill.Shared.Data;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// An empty training, validation or test split is refused when the data set is loaded, naming the split, the data set and
/// its path (a run would crash at its first step or wait out the evaluation timeout). The refusal of a whole run, with its
/// exit code, is in <see cref="RunDirectoryWriterSpecs"/>. (Image folders, YOLO and COCO folders and the synthetic sets already
/// refuse a split without images in their loaders; the check in <see cref="DatasetFactory.Load"/> covers every data set.)
/// </summary>
[Trait("Category", "Unit")]
public sealed class EmptySplitSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData(0, 5, "training", "fashion-mnist/train")]
    [InlineData(12, 0, "test", "fashion-mnist/test")]
    public void Should_refuse_an_idx_set_with_an_empty_split(int train, int test, string split, string name)
    {
        TestFiles.WriteIdxSet(dir.Path, gzip: false, train: train, test: test);

        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "fashion-mnist", Path = dir.Path }));

        Assert.Equal(dir.Path, e.Path);
        Assert.Contains($"Data set 'fashion-mnist' at '{dir.Path}': its {split} split ({name}) has no images", e.Message);
    }

    [Fact]
    public void Should_refuse_a_medmnist_file_with_an_empty_validation_split()
    {
        var path = dir.Combine("set.npz");
        NpzFiles.Write(path, NpzFiles.MedMnist(side: 4, classes: 2, counts: (6, 0, 3)), deflate: false);

        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "medmnist", Path = path }));

        Assert.Contains($"Data set 'medmnist' at '{path}': its validation split", e.Message);
    }
}
