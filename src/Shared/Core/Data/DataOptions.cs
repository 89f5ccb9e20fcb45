namespace P2PDistill.Shared.Data;

/// <summary>Which dataset to load and how. Bound from configuration section "Data".</summary>
public sealed class DataOptions
{
    /// <summary>fashion-mnist, mnist, folder or synthetic.</summary>
    public string Dataset { get; set; } = "fashion-mnist";

    /// <summary>Directory of the IDX files or of the image folder. Empty: the dataset's default location.</summary>
    public string? Path { get; set; }

    /// <summary>Image folder: side length images are resized to.</summary>
    public int ImageSize { get; set; } = 64;

    /// <summary>Image folder: 1 (grayscale) or 3 (RGB).</summary>
    public int Channels { get; set; } = 3;

    /// <summary>Image folder without train/ and test/: share of images held out for test (seeded split).</summary>
    public double TestFraction { get; set; } = 0.2;

    /// <summary>Synthetic: number of training and test samples, classes and side length.</summary>
    public int SyntheticTrain { get; set; } = 2048;
    public int SyntheticTest { get; set; } = 512;
    public int SyntheticClasses { get; set; } = 4;
    public int SyntheticSize { get; set; } = 28;

    /// <summary>Synthetic: 1 (grayscale) or 3 channels.</summary>
    public int SyntheticChannels { get; set; } = 1;

    /// <summary>Use only the first N training samples (0: all). Handy for quick runs.</summary>
    public int TrainLimit { get; set; }
    public int TestLimit { get; set; }

    public int CropPadding { get; set; }
    public bool HorizontalFlip { get; set; }

    public int Seed { get; set; } = 1;

    /// <summary>
    /// ship (default): only the coordinator reads the dataset and sends every batch as uint8 pixels.
    /// local: every node has the dataset; the coordinator sends only (epoch, step) and each node builds the identical batch.
    /// </summary>
    public string Mode { get; set; } = "ship";

    public bool IsLocal => string.Equals(Mode, "local", StringComparison.OrdinalIgnoreCase);

    public AugmentOptions Augment => new(CropPadding, HorizontalFlip);

    public DataOptions Clone() => (DataOptions)MemberwiseClone();

    /// <summary>Problems with these options, one sentence each naming the setting; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        if (!string.Equals(Mode, "ship", StringComparison.OrdinalIgnoreCase) && !IsLocal)
            return [$"data-mode must be ship or local (got '{Mode}')"];
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Dataset))
            problems.Add("Data:Dataset is empty; use fashion-mnist, mnist, folder or synthetic.");
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
