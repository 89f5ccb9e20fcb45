namespace P2PDistill.Shared.Data;

/// <summary>
/// Which samples make up each batch. For shuffled plans, epoch e uses a Fisher–Yates permutation of 0..Count-1 drawn from
/// <see cref="SplitMix64"/> seeded with a hash of (seed, epoch): a pure function of (seed, epoch), identical on every
/// machine and independent of the epochs before it. Step s of an epoch takes positions [s*BatchSize, (s+1)*BatchSize) of
/// that order; the last, shorter batch is kept unless DropLast. <see cref="InOrder"/> gives the unshuffled plan used for
/// evaluation. Thread-safe.
/// </summary>
public sealed class BatchPlan
{
    private sealed record CachedEpoch(int Epoch, int[] Order);

    private volatile CachedEpoch? _cache;

    public BatchPlan(int count, int batchSize, int seed, bool shuffle = true, bool dropLast = false)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be >= 0");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be >= 1");
        Count = count;
        BatchSize = batchSize;
        Seed = seed;
        Shuffle = shuffle;
        DropLast = dropLast;
        Steps = StepsPerEpoch(count, batchSize, dropLast);
    }

    /// <summary>Evaluation order: 0..count-1 in order, last batch possibly shorter, the same for every epoch.</summary>
    public static BatchPlan InOrder(int count, int batchSize) => new(count, batchSize, seed: 0, shuffle: false, dropLast: false);

    public int Count { get; }
    public int BatchSize { get; }
    public int Seed { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }

    /// <summary>Steps in one epoch (see <see cref="StepsPerEpoch(int, int, bool)"/>).</summary>
    public int Steps { get; }

    /// <summary>ceil(count / batchSize), or floor when <paramref name="dropLast"/> (0 when count &lt; batchSize).</summary>
    public static int StepsPerEpoch(int count, int batchSize, bool dropLast)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be >= 0");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be >= 1");
        return dropLast ? count / batchSize : (int)(((long)count + batchSize - 1) / batchSize);
    }

    /// <summary>The order of all samples in <paramref name="epoch"/> (a fresh array the caller owns).</summary>
    public int[] Permutation(int epoch) => (int[])Order(epoch).Clone();

    /// <summary>Sample indices of step <paramref name="step"/> (0-based, within the epoch) of <paramref name="epoch"/>.</summary>
    public int[] Indices(int epoch, int step)
    {
        if ((uint)step >= (uint)Steps)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"step must lie in 0..{Steps - 1} ({Count} samples, batch {BatchSize}{(DropLast ? ", last partial batch dropped" : "")})");
        int start = step * BatchSize;
        int length = Math.Min(BatchSize, Count - start);
        return Order(epoch).AsSpan(start, length).ToArray();
    }

    /// <summary>All batches of <paramref name="epoch"/>, in step order.</summary>
    public IEnumerable<int[]> Batches(int epoch)
    {
        for (int step = 0; step < Steps; step++)
            yield return Indices(epoch, step);
    }

    /// <summary>Epoch and step within it of a 0-based global step counter (epochs numbered from <paramref name="firstEpoch"/>).</summary>
    public (int Epoch, int Step) Locate(long globalStep, int firstEpoch = 0)
    {
        if (globalStep < 0) throw new ArgumentOutOfRangeException(nameof(globalStep), globalStep, "global step must be >= 0");
        if (Steps == 0) throw new InvalidOperationException($"The plan has no steps ({Count} samples, batch {BatchSize}, last partial batch dropped).");
        return ((int)(globalStep / Steps) + firstEpoch, (int)(globalStep % Steps));
    }

    private int[] Order(int epoch)
    {
        var cached = _cache;
        if (cached is not null && cached.Epoch == epoch)
            return cached.Order;
        var order = new int[Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Shuffle)
            new SplitMix64(DeterministicHash.Hash(DeterministicHash.ShuffleDomain, Seed, epoch)).Shuffle(order);
        _cache = new CachedEpoch(epoch, order);
        return order;
    }
}
