using System.Buffers.Binary;
using System.Numerics;
using Tensorboard;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// The records of a TensorBoard event file (<c>events.out.tfevents.*</c>), as TorchSharp's SummaryWriter writes them: TFRecord
/// framing (a little-endian 64-bit length, its masked CRC-32C, the bytes of one <see cref="Event"/>, their masked CRC-32C).
/// </summary>
internal static class TensorBoardEventFile
{
    /// <summary>One whole record: its bytes as on disk and the event they hold.</summary>
    public readonly record struct Record(byte[] Framed, Event Event);

    /// <summary>
    /// Every whole record of <paramref name="path"/>, in order, up to the first one that is torn (a process killed while
    /// writing it) or whose checksums do not match: what follows such a record cannot be trusted.
    /// </summary>
    public static List<Record> ReadWhole(string path, out bool intact)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<Record>();
        int at = 0;
        intact = true;
        while (at < bytes.Length)
        {
            if (bytes.Length - at < 12) { intact = false; break; }
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)) != MaskedCrc(bytes.AsSpan(at, 8))
                || length > (ulong)(bytes.Length - at - 16)) { intact = false; break; }
            var data = bytes.AsSpan(at + 12, (int)length);
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)) != MaskedCrc(data)) { intact = false; break; }
            Event e;
            try { e = Event.Parser.ParseFrom(bytes, at + 12, (int)length); } // TorchSharp's generated code parses no spans
            catch (Google.Protobuf.InvalidProtocolBufferException) { intact = false; break; }
            records.Add(new Record(bytes.AsSpan(at, 16 + (int)length).ToArray(), e));
            at += 16 + (int)length;
        }
        return records;
    }

    /// <summary>TFRecord's checksum: CRC-32C (Castagnoli), rotated right by 15 bits plus a constant.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        crc = ~crc;
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }
}
