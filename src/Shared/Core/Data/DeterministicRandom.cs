namespace P2PDistill.Shared.Data;

/// <summary>
/// SplitMix64: a tiny, fast pseudo-random generator whose output depends only on its 64-bit state,
/// so the same seed gives the same numbers on every machine and runtime (unlike <see cref="System.Random"/>,
/// whose algorithm is an implementation detail). Only integer arithmetic is used.
/// </summary>
public struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong State => _state;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        return DeterministicHash.Mix(z);
    }

    /// <summary>Uniform integer in [0, <paramref name="bound"/>) (Lemire's multiply-shift with rejection, unbiased).</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound), bound, "bound must be positive");
        ulong b = (ulong)bound;
        ulong threshold = (0UL - b) % b;
        while (true)
        {
            ulong hi = Math.BigMul(NextUInt64(), b, out ulong lo);
            if (lo >= threshold) return (int)hi;
        }
    }

    /// <summary>Uniform integer in [<paramref name="minInclusive"/>, <paramref name="maxInclusive"/>].</summary>
    public int NextInt(int minInclusive, int maxInclusive) => minInclusive + NextInt(maxInclusive - minInclusive + 1);

    public bool NextBool() => (NextUInt64() >> 63) != 0;

    /// <summary>Uniform double in [0, 1) with 53 random bits (exact, hence identical everywhere).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>In-place Fisher–Yates shuffle.</summary>
    public void Shuffle(Span<int> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}

/// <summary>Stable 64-bit hashing of small integer tuples, used to derive independent seeds (seed, epoch, step, ...).</summary>
public static class DeterministicHash
{
    /// <summary>Domain tags so that, for the same seed, shuffling, augmentation and synthetic data draw unrelated streams.</summary>
    public const ulong ShuffleDomain = 0x53485546464C4531UL;   // "SHUFFLE1"
    public const ulong AugmentDomain = 0x4155474D454E5431UL;   // "AUGMENT1"
    public const ulong SyntheticDomain = 0x53594E5448455431UL; // "SYNTHET1"
    public const ulong SplitDomain = 0x53504C4954303031UL;     // "SPLIT001"

    /// <summary>The SplitMix64 / Stafford variant 13 finaliser: a bijective avalanche mix.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public static ulong Combine(ulong h, long value) => Mix(h ^ Mix(unchecked((ulong)value + 0x9E3779B97F4A7C15UL)));

    public static ulong Hash(ulong domain, long a) => Combine(Mix(domain), a);
    public static ulong Hash(ulong domain, long a, long b) => Combine(Hash(domain, a), b);
    public static ulong Hash(ulong domain, long a, long b, long c) => Combine(Hash(domain, a, b), c);
    public static ulong Hash(ulong domain, long a, long b, long c, long d) => Combine(Hash(domain, a, b, c), d);

    /// <summary>FNV-1a over the UTF-16 code units of <paramref name="text"/>, then mixed: stable across runs and machines
    /// (unlike <see cref="string.GetHashCode()"/>).</summary>
    public static long Hash(string text)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char c in text)
        {
            h ^= c;
            h *= 0x100000001B3UL;
        }
        return unchecked((long)Mix(h));
    }
}
