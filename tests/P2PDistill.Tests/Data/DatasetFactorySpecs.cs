using P2PDistill.Shared.Data;

namespace P2PDistill.Tests.Data;

[Trait("Category", "Unit")]
public sealed class DatasetFactorySpecs : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Should_list_the_known_datasets_for_an_unknown_name()
    {
        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "cifar-10" }));

        Assert.Contains("Unknown dataset 'cifar-10'", e.Message);
        Assert.Contains("fashion-mnist, mnist, folder, synthetic", e.Message);
    }

    [Fact]
    public void Should_load_fashion_mnist_from_a_path_and_apply_the_limits()
    {
        TestFiles.WriteIdxSet(_dir.Path, gzip: true, train: 20, test: 9);

        var splits = DatasetFactory.Load(new DataOptions { Dataset = "Fashion-MNIST", Path = _dir.Path, TrainLimit = 7, TestLimit = 100 });

        Assert.Equal(7, splits.Train.Count);
        Assert.Equal(9, splits.Test.Count);
        Assert.Equal(6, splits.Train.Label(6));
        Assert.Same(Normalization.FashionMnist, DatasetFactory.DefaultNormalization(new DataOptions(), splits));
    }

    [Fact]
    public void Should_use_mnist_constants_for_mnist()
    {
        TestFiles.WriteIdxSet(_dir.Path, gzip: false);
        var options = new DataOptions { Dataset = "mnist", Path = _dir.Path };

        var splits = DatasetFactory.Load(options);

        Assert.Equal("0", splits.ClassNames[0]);
        Assert.Same(Normalization.Mnist, DatasetFactory.DefaultNormalization(options, splits));
    }

    [Fact]
    public void Should_load_the_synthetic_set_with_computed_normalization()
    {
        var options = new DataOptions { Dataset = "synthetic", SyntheticTrain = 50, SyntheticTest = 10, SyntheticClasses = 3, SyntheticSize = 16, SyntheticChannels = 3 };

        var splits = DatasetFactory.Load(options);
        var norm = DatasetFactory.DefaultNormalization(options, splits);

        Assert.Equal(50, splits.Train.Count);
        Assert.Equal(new ImageShape(3, 16, 16), splits.Shape);
        Assert.Equal(3, norm.Mean.Length);
        Assert.All(norm.Mean, m => Assert.InRange(m, 0.05f, 0.6f));
        Assert.All(norm.Std, s => Assert.InRange(s, 0.02f, 0.5f));
    }

    [Fact]
    public void Should_compute_exact_channel_statistics()
    {
        byte[][] images = [[0, 0, 255, 255], [255, 255, 0, 0]]; // channel 0 = {0,0,255,255}, channel 1 = {255,255,0,0}
        var dataset = new InMemoryImageDataset("t", new ImageShape(2, 1, 2), ["a"], images, [0, 0]);

        var norm = DatasetStatistics.Compute(dataset);

        Assert.Equal(0.5f, norm.Mean[0], 6);
        Assert.Equal(0.5f, norm.Std[0], 6);
        Assert.Equal(0.5f, norm.Mean[1], 6);
    }

    [Fact]
    public void Should_require_a_path_for_an_image_folder()
    {
        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "folder" }));

        Assert.Contains("Data:Path", e.Message);
    }

    [Fact]
    public void Should_report_invalid_options()
    {
        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "synthetic", Channels = 2, TrainLimit = -1 }));

        Assert.Contains("Data:Channels", e.Message);
        Assert.Contains("Data:TrainLimit", e.Message);
    }

    [Fact]
    public void Should_give_the_install_hint_when_fashion_mnist_is_missing()
    {
        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Path = _dir.Combine("absent") }));

        Assert.Contains("sudo apt-get install dataset-fashion-mnist", e.Message);
    }
}
