namespace P2PDistill.Shared.Data;

/// <summary>
/// A deterministic synthetic image set for tests and smoke runs. Class c of K is a bright round blob centred in cell c
/// of a ceil(sqrt K) x ceil(sqrt K) grid over the image, jittered by a few pixels, with random brightness, on a background
/// of uniform noise. Small networks (even a linear model) learn it in a few steps. Labels cycle 0, 1, .., K-1 so every
/// prefix is balanced. Generation uses only integer arithmetic and <see cref="SplitMix64"/>, so the same seed gives
/// byte-identical data on every machine.
/// </summary>
public static class SyntheticDataset
{
    public const int TrainSplit = 0;
    public const int TestSplit = 1;

    public static DatasetSplits Load(int trainCount, int testCount, int classes, int size, int channels, int seed)
    {
        Validate(trainCount, testCount, classes, size, channels);
        return new DatasetSplits(
            Generate($"synthetic/train(seed {seed})", trainCount, classes, size, channels, seed, TrainSplit),
            Generate($"synthetic/test(seed {seed})", testCount, classes, size, channels, seed, TestSplit));
    }

    /// <summary>One split: sample i is generated from (seed, split, i) alone.</summary>
    public static InMemoryImageDataset Generate(string name, int count, int classes, int size, int channels, int seed, int split)
    {
        Validate(count, 1, classes, size, channels);
        int grid = 1;
        while (grid * grid < classes) grid++;
        int radius = Math.Max(2, size / (2 * grid));
        int jitter = Math.Max(1, size / (4 * grid));
        int plane = size * size;

        var images = new byte[count][];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            var rng = new SplitMix64(DeterministicHash.Hash(DeterministicHash.SyntheticDomain, seed, split, i));
            int label = i % classes;
            int cx = (2 * (label % grid) + 1) * size / (2 * grid) + rng.NextInt(-jitter, jitter);
            int cy = (2 * (label / grid) + 1) * size / (2 * grid) + rng.NextInt(-jitter, jitter);
            int amplitude = rng.NextInt(160, 255);
            int r2 = radius * radius;
            var image = new byte[plane * channels];
            for (int ch = 0; ch < channels; ch++)
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                    {
                        int d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                        int blob = d2 < r2 ? amplitude * (r2 - d2) / r2 : 0;
                        int value = blob + rng.NextInt(64);
                        image[ch * plane + y * size + x] = (byte)Math.Min(255, value);
                    }
            images[i] = image;
            labels[i] = label;
        }
        var classNames = Enumerable.Range(0, classes).Select(c => $"class-{c}").ToArray();
        return new InMemoryImageDataset(name, new ImageShape(channels, size, size), classNames, images, labels);
    }

    private static void Validate(int trainCount, int testCount, int classes, int size, int channels)
    {
        if (trainCount < 1 || testCount < 1)
            throw new DatasetException($"Synthetic dataset: Data:SyntheticTrain ({trainCount}) and Data:SyntheticTest ({testCount}) must be at least 1.");
        if (classes is < 2 or > 1024)
            throw new DatasetException($"Synthetic dataset: Data:SyntheticClasses is {classes}; it must lie in 2..1024.");
        if (size is < 4 or > 1024)
            throw new DatasetException($"Synthetic dataset: Data:SyntheticSize is {size}; it must lie in 4..1024.");
        int grid = 1;
        while (grid * grid < classes) grid++;
        if (size / grid < 4)
            throw new DatasetException($"Synthetic dataset: {classes} classes need a {grid}x{grid} grid of blobs, which does not fit a {size}x{size} image; " +
                $"raise Data:SyntheticSize to at least {4 * grid} or lower Data:SyntheticClasses.");
        if (channels is not (1 or 3))
            throw new DatasetException($"Synthetic dataset: Data:SyntheticChannels is {channels}; it must be 1 or 3.");
    }
}
