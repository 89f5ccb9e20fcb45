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

    /// <summary>Most bytes one payload may carry (a model's weights or training state): 8 GiB.</summary>
    public const long MaxPayloadBytes = 8L << 30;

    /// <summary>
    /// Most parts a payload in parts of <paramref name="partBytes"/> may claim: as many as <see cref="MaxPayloadBytes"/> needs, at
    /// most <see cref="MaxParts"/> (1,024 in the 8 MiB parts of the default frame).
    /// </summary>
    public static int MaxPartsOf(int partBytes) => (int)Math.Min(MaxParts, (MaxPayloadBytes + partBytes - 1) / Math.Max(1, partBytes));

    /// <summary>The payload in parts of at most <paramref name="size"/> bytes, in order, with their index and count (one empty part for an empty payload).</summary>
    public static IEnumerable<(int Index, int Count, byte[] Part)> Split(byte[] payload, int size = PartBytes)
    {
        int count = Math.Max(1, (payload.Length + size - 1) / size);
        for (int i = 0; i < count; i++)
            yield return (i, count, payload[(i * size)..Math.Min(payload.Length, (i + 1) * size)]);
    }
}

/// <summary>
/// Collects the parts of one payload, in any order; refuses a part that does not fit what came before, and a part larger than the
/// chunk every node sends (<c>WireLimits.ChunkBytes</c>: the nodes of a cluster have the same frame), so that what it holds is
/// bounded by <see cref="Chunks.MaxPayloadBytes"/> and never by what a frame claims.
/// </summary>
public sealed class ChunkAssembler
{
    private readonly int partBytes;
    private byte[]?[]? parts;
    private int missing;

    /// <param name="expectedCount">The number of parts announced beforehand (a restore), or null to take it from the first part.</param>
    /// <param name="partBytes">The largest part the sender sends (<c>WireLimits.ChunkBytes</c>); larger parts are refused.</param>
    public ChunkAssembler(int? expectedCount = null, int partBytes = Chunks.PartBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partBytes, 1);
        this.partBytes = partBytes;
        if (expectedCount is { } n) Expect(n);
    }

    /// <summary>Why the last part was refused (for the log); null while every part fitted.</summary>
    public string? Problem { get; private set; }

    /// <summary>
    /// Adds a part. False, with <see cref="Problem"/>, when it does not fit: index out of range, another count than before, a count
    /// over <see cref="Chunks.MaxPartsOf"/> the part size, or a part larger than the part size. A refused part is not kept.
    /// </summary>
    /// <param name="whole">The payload once every part is in; null until then.</param>
    public bool TryAdd(int index, int count, byte[] part, out byte[]? whole)
    {
        whole = null;
        Problem = Refusal(index, count, part);
        if (Problem is not null) return false;
        if (parts is null) Expect(count);
        if (parts![index] is null) missing--;
        parts[index] = part;
        if (missing > 0) return true;
        whole = parts.Length == 1 ? parts[0]! : parts.SelectMany(p => p!).ToArray();
        return true;
    }

    private string? Refusal(int index, int count, byte[] part)
    {
        int most = Chunks.MaxPartsOf(partBytes);
        if (count < 1 || count > most)
            return $"part {index} of {count}: a payload is 1 to {most} parts of at most {partBytes:N0} bytes (at most {Chunks.MaxPayloadBytes >> 30} GiB)";
        if (index < 0 || index >= count) return $"part {index} of {count}: no such part";
        if (parts is not null && parts.Length != count) return $"part {index} of {count}: the payload was announced in {parts.Length} parts";
        if (part.Length > partBytes)
            return $"part {index} of {count} has {part.Length:N0} bytes, more than the {partBytes:N0} bytes of a chunk " +
                   "(every node sizes its chunks from its --max-frame-mb, which must be the same on every node)";
        return null;
    }

    private void Expect(int count)
    {
        parts = new byte[]?[Math.Clamp(count, 1, Chunks.MaxPartsOf(partBytes))];
        missing = parts.Length;
    }
}
