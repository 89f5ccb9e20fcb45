using System.ComponentModel;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Shared.Data;

/// <summary>How the nodes get their batches (DESIGN.md §4): ship or local.</summary>
[TypeConverter(typeof(DataModeConverter))]
public enum DataMode
{
    /// <summary>Only the coordinator reads the dataset and sends every batch as uint8 pixels.</summary>
    Ship,
    /// <summary>Every node has the dataset; the coordinator sends only (epoch, step) and each node builds the identical batch.</summary>
    Local,
}

public sealed class DataModeConverter() : SettingEnumConverter<DataMode>((DataMode.Ship, "ship", []), (DataMode.Local, "local", []));

/// <summary>Which dataset to load and how. Bound from configuration section "Data"; immutable.</summary>
public sealed record DataOptions
{
    /// <summary>The run's task (bound from the same --task as Training:Task): it picks the default data set.</summary>
    /// <remarks>Declared first: binding reads <see cref="Dataset"/>'s default and writes it back, so it must see the bound task.</remarks>
    public Settings.TaskKind Task { get; init; } = Settings.TaskKind.Classification;

    private readonly string? dataset;

    /// <summary>
    /// fashion-mnist (default), mnist, folder, synthetic, medmnist, pneumoniamnist; for detection synthetic-detection (its default),
    /// yolo or coco.
    /// </summary>
    public string Dataset { get => dataset ?? (Task == Settings.TaskKind.Detection ? DatasetFactory.SyntheticDetection : DatasetFactory.FashionMnist); init => dataset = value; }

    /// <summary>Directory of the IDX files or of the image folder. Empty: the dataset's default location.</summary>
    public string? Path { get; init; }

    /// <summary>Image folder, detection sets (letterboxed) and the synthetic detection set: side length of the images.</summary>
    public int ImageSize { get; init; } = 64;

    /// <summary>Image folder and detection sets: 1 (grayscale) or 3 (RGB).</summary>
    public int Channels { get; init; } = 3;

    /// <summary>Image folder without train/ and test/: share of images held out for test (seeded split).</summary>
    public double TestFraction { get; init; } = 0.2;

    /// <summary>Synthetic: number of training and test samples, classes and side length.</summary>
    public int SyntheticTrain { get; init; } = 2048;
    public int SyntheticTest { get; init; } = 512;
    public int SyntheticClasses { get; init; } = 4;
    public int SyntheticSize { get; init; } = 28;

    /// <summary>Synthetic: 1 (grayscale) or 3 channels.</summary>
    public int SyntheticChannels { get; init; } = 1;

    /// <summary>Use only the first N training samples (0: all). Handy for quick runs.</summary>
    public int TrainLimit { get; init; }
    public int TestLimit { get; init; }

    public int CropPadding { get; init; }
    public bool HorizontalFlip { get; init; }

    public int Seed { get; init; } = 1;

    /// <summary>
    /// ship (default): only the coordinator reads the dataset and sends every batch as uint8 pixels.
    /// local: every node has the dataset; the coordinator sends only (epoch, step) and each node builds the identical batch.
    /// </summary>
    public DataMode Mode { get; init; } = DataMode.Ship;

    public bool IsLocal => Mode == DataMode.Local;

    public AugmentOptions Augment => new(CropPadding, HorizontalFlip);

    /// <summary>Problems with these options, one sentence each naming the setting; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Dataset))
            problems.Add($"Data:Dataset is empty; use one of {string.Join(", ", DatasetFactory.KnownDatasets)}.");
        if (ImageSize is < 1 or > 4096)
            problems.Add($"Data:ImageSize is {ImageSize}; it must lie in 1..4096.");
        if (Channels is not (1 or 3))
            problems.Add($"Data:Channels is {Channels}; it must be 1 (grayscale) or 3 (RGB).");
        if (!(TestFraction > 0 && TestFraction < 1))
            problems.Add($"Data:TestFraction is {TestFraction}; it must lie strictly between 0 and 1.");
        if (TrainLimit < 0 || TestLimit < 0)
            problems.Add($"Data:TrainLimit ({TrainLimit}) and Data:TestLimit ({TestLimit}) must be 0 (all) or positive.");
        if (CropPadding < 0)
            problems.Add($"Data:CropPadding is {CropPadding}; it must be 0 (off) or positive.");
        return problems;
    }
}
