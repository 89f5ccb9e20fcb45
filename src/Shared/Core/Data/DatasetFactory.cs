namespace P2PDistill.Shared.Data;

/// <summary>Loads the dataset named by <see cref="DataOptions"/> and picks its normalisation.</summary>
public static class DatasetFactory
{
    public const string FashionMnist = "fashion-mnist";
    public const string Mnist = "mnist";
    public const string Folder = "folder";
    public const string Synthetic = "synthetic";
    public const string MedMnist = "medmnist";
    public const string PneumoniaMnist = "pneumoniamnist";
    public const string SyntheticDetection = "synthetic-detection";
    public const string Yolo = "yolo";
    public const string Coco = "coco";

    public static IReadOnlyList<string> KnownDatasets { get; } = [FashionMnist, Mnist, Folder, Synthetic, MedMnist, PneumoniaMnist, SyntheticDetection, Yolo, Coco];

    /// <summary>The data sets of boxes, for <c>--task detection</c>; every other one is a classification set.</summary>
    public static IReadOnlyList<string> DetectionDatasets { get; } = [SyntheticDetection, Yolo, Coco];

    /// <summary>The task a data set is for.</summary>
    public static Settings.TaskKind TaskOf(string? dataset) =>
        DetectionDatasets.Contains(Canonical(dataset)) ? Settings.TaskKind.Detection : Settings.TaskKind.Classification;

    /// <summary>What is wrong when <paramref name="options"/>' data set is not one of its task's (no closing full stop); null when it fits.</summary>
    public static string? TaskMismatch(DataOptions options) => TaskOf(options.Dataset) == options.Task ? null
        : options.Task == Settings.TaskKind.Detection
            ? $"--dataset {options.Dataset} is a classification data set, and --task detection needs boxes: use {string.Join(", ", DetectionDatasets)}"
            : $"--dataset {options.Dataset} is a detection data set: add --task detection (or choose a classification data set)";

    /// <summary>PneumoniaMNIST as shipped with P2PDistill (data/pneumoniamnist/, CC BY 4.0), copied beside every executable.</summary>
    public static string ShippedPneumoniaMnist => System.IO.Path.Combine(AppContext.BaseDirectory, "data", "pneumoniamnist", "pneumoniamnist.npz");

    /// <summary>PneumoniaMNIST's classes: label 0 normal, 1 pneumonia.</summary>
    public static IReadOnlyList<string> PneumoniaMnistClasses { get; } = ["normal", "pneumonia"];

    /// <summary>
    /// Loads train and test splits (dataset names are case-insensitive), then keeps only the first
    /// <see cref="DataOptions.TrainLimit"/> / <see cref="DataOptions.TestLimit"/> samples when those are positive.
    /// </summary>
    public static DatasetSplits Load(DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new DatasetException("Invalid data options: " + string.Join(" ", problems));

        if (TaskMismatch(options) is { } mismatch) throw new DatasetException(mismatch);
        var splits = Canonical(options.Dataset) switch
        {
            FashionMnist => IdxDataset.LoadFashionMnist(options.Path),
            Mnist => IdxDataset.LoadMnist(options.Path),
            Folder => string.IsNullOrWhiteSpace(options.Path)
                ? throw new DatasetException("Dataset 'folder' needs Data:Path: the image folder with one sub-folder per class (optionally inside train/ and test/).")
                : ImageFolderDataset.Load(options.Path, options.ImageSize, options.Channels, options.TestFraction, options.Seed),
            MedMnist => string.IsNullOrWhiteSpace(options.Path)
                ? throw new DatasetException("Dataset 'medmnist' needs --data-path: a MedMNIST 2D .npz file (e.g. pathmnist.npz), or use --dataset pneumoniamnist for the shipped one.")
                : MedMnistDataset.Load(options.Path, MedMnist),
            PneumoniaMnist => MedMnistDataset.Load(string.IsNullOrWhiteSpace(options.Path) ? ShippedPneumoniaMnist : options.Path, PneumoniaMnist, PneumoniaMnistClasses),
            Synthetic => SyntheticDataset.Load(options.SyntheticTrain, options.SyntheticTest, options.SyntheticClasses,
                options.SyntheticSize, options.SyntheticChannels, options.Seed),
            SyntheticDetection => Detection.SyntheticDetectionDataset.Load(options.SyntheticTrain, options.SyntheticTest, options.ImageSize, options.Channels, options.Seed).ToDatasetSplits(),
            Yolo => string.IsNullOrWhiteSpace(options.Path)
                ? throw new DatasetException("Dataset 'yolo' needs --data-path: a folder with images/ and labels/ (optionally inside train/, val/ and test/).")
                : Detection.YoloDetectionDataset.Load(options.Path, options.ImageSize, options.Channels, 0, options.TestFraction, options.Seed).ToDatasetSplits(),
            Coco => string.IsNullOrWhiteSpace(options.Path)
                ? throw new DatasetException("Dataset 'coco' needs --data-path: a COCO JSON file (its images beside it), or a folder of train/val/test JSON files.")
                : Detection.CocoDetectionDataset.Load(options.Path, options.ImageSize, options.Channels, options.TestFraction, options.Seed).ToDatasetSplits(),
            _ => throw new DatasetException($"Unknown dataset '{options.Dataset}'. Known datasets: {string.Join(", ", KnownDatasets)}."),
        };
        var limited = splits with
        {
            Train = Take(splits.Train, options.TrainLimit),
            Test = Take(splits.Test, options.TestLimit),
            Val = splits.Val is null ? null : Take(splits.Val, options.TestLimit),
        };
        EnsureNoEmptySplit(limited, options);
        return limited;
    }

    /// <summary>
    /// Refuses a data set with an empty training, validation or test split, naming the split, the data set and its path:
    /// training would crash at its first step, and an evaluation on no images would wait out its whole timeout.
    /// </summary>
    public static void EnsureNoEmptySplit(DatasetSplits splits, DataOptions options)
    {
        foreach (var (split, what) in new (IImageDataset?, string)[] { (splits.Train, "training"), (splits.Val, "validation"), (splits.Test, "test") })
        {
            if (split is null || split.Count > 0) continue;
            var where = Location(options);
            throw new DatasetException($"Data set '{options.Dataset}' at '{where}': its {what} split ({split.Name}) has no images. " +
                "Training needs images in its training split and every evaluation in its test and validation splits: add images to that split, " +
                "or set --data-path (Data:Path) to a complete data set.") { Path = where };
        }
    }

    /// <summary>Where the data set is read from: --data-path, or the data set's default location.</summary>
    private static string Location(DataOptions options) => !string.IsNullOrWhiteSpace(options.Path) ? options.Path : Canonical(options.Dataset) switch
    {
        FashionMnist => IdxDataset.FashionMnistDefaultPath,
        Mnist => IdxDataset.MnistDefaultPath,
        PneumoniaMnist => ShippedPneumoniaMnist,
        _ => "generated in memory",
    };

    // A detection set keeps its boxes when limited.
    private static IImageDataset Take(IImageDataset split, int limit) => split is Detection.IDetectionDataset boxes
        ? Detection.DetectionSubset.Take(boxes, limit)
        : SubsetDataset.Take(split, limit);

    /// <summary>
    /// The normalisation for a loaded dataset: the usual published constants for Fashion-MNIST and MNIST (so results are
    /// comparable with the literature); for image folders and the synthetic set the per-channel mean and standard deviation
    /// of the training split (after TrainLimit), computed exactly with integer sums, so every node gets the same numbers.
    /// </summary>
    public static Normalization DefaultNormalization(DataOptions options, DatasetSplits splits) => Canonical(options.Dataset) switch
    {
        FashionMnist => Normalization.FashionMnist,
        Mnist => Normalization.Mnist,
        _ => DatasetStatistics.Compute(splits.Train),
    };

    private static string Canonical(string? name) => (name ?? "").Trim().ToLowerInvariant();
}

/// <summary>Per-channel statistics of a dataset.</summary>
public static class DatasetStatistics
{
    /// <summary>
    /// Per-channel mean and (population) standard deviation of x/255 over every pixel of <paramref name="dataset"/>.
    /// Sums are exact 64-bit integers, so the result does not depend on order or machine. A constant channel gets std 1.
    /// </summary>
    public static Normalization Compute(IImageDataset dataset)
    {
        var shape = dataset.Shape;
        int plane = shape.Height * shape.Width;
        var sum = new long[shape.Channels];
        var sumSquares = new long[shape.Channels];
        var buffer = new byte[shape.Pixels];
        for (int i = 0; i < dataset.Count; i++)
        {
            dataset.CopyImage(i, buffer);
            for (int c = 0; c < shape.Channels; c++)
            {
                long s = 0, q = 0;
                foreach (byte v in buffer.AsSpan(c * plane, plane))
                {
                    s += v;
                    q += v * v;
                }
                sum[c] += s;
                sumSquares[c] += q;
            }
        }
        var mean = new float[shape.Channels];
        var std = new float[shape.Channels];
        double n = (double)dataset.Count * plane;
        for (int c = 0; c < shape.Channels; c++)
        {
            if (n == 0)
            {
                mean[c] = 0f;
                std[c] = 1f;
                continue;
            }
            double m = sum[c] / n;
            double variance = Math.Max(0, sumSquares[c] / n - m * m);
            double sd = Math.Sqrt(variance) / 255.0;
            mean[c] = (float)(m / 255.0);
            std[c] = sd > 1e-6 ? (float)sd : 1f;
        }
        return new Normalization(mean, std);
    }
}
