namespace P2PDistill.Shared.Messages;

/// <summary>
/// Splits a payload too large for one remoting frame (a model's weights or training state) into parts, and puts the
/// parts back together on the other side: the one chunking code of both actors (weights to the coordinator, a saved
/// state to a model).
/// </summary>
public static class Chunks
{
    /// <summary>
    /// Largest part sent (well inside the default 32 MiB frame). A smaller frame gets smaller parts:
    /// <c>WireLimits.ChunkBytes</c>, the frame less room for the message's other fields.
    /// </summary>
    public const int PartBytes = 8 * 1024 * 1024;

    /// <summary>
    /// Most parts one payload may claim (8 GiB of weights in parts of the smallest frame, 1 MiB): a count from the wire above it
    /// is refused, not allocated (the assembler's table of parts is then at most 128 KiB).
    /// </summary>
    public const int MaxParts = 16 * 1024;

    /// <summary>The payload in parts of at most <paramref name="size"/> bytes, in order, with their index and count (one empty part for an empty payload).</summary>
    public static IEnumerable<(int Index, int Count, byte[] Part)> Split(byte[] payload, int size = PartBytes)
    {
        int count = Math.Max(1, (payload.Length + size - 1) / size);
        for (int i = 0; i < count; i++)
            yield return (i, count, payload[(i * size)..Math.Min(payload.Length, (i + 1) * size)]);
    }
}

/// <summary>Collects the parts of one payload, in any order; refuses a part that does not fit what came before.</summary>
public sealed class ChunkAssembler
{
    private byte[]?[]? parts;
    private int missing;

    /// <param name="expectedCount">The number of parts announced beforehand (a restore), or null to take it from the first part.</param>
    public ChunkAssembler(int? expectedCount = null)
    {
        if (expectedCount is { } n) Expect(n);
    }

    /// <summary>Adds a part. False when it does not fit (index out of range, another count, a count over <see cref="Chunks.MaxParts"/>).</summary>
    /// <param name="whole">The payload once every part is in; null until then.</param>
    public bool TryAdd(int index, int count, byte[] part, out byte[]? whole)
    {
        whole = null;
        if (count < 1 || count > Chunks.MaxParts || index < 0 || index >= count) return false;
        if (parts is null) Expect(count);
        if (parts!.Length != count) return false;
        if (parts[index] is null) missing--;
        parts[index] = part;
        if (missing > 0) return true;
        whole = parts.Length == 1 ? parts[0]! : parts.SelectMany(p => p!).ToArray();
        return true;
    }

    private void Expect(int count)
    {
        parts = new byte[]?[Math.Clamp(count, 1, Chunks.MaxParts)];
        missing = parts.Length;
    }
}
