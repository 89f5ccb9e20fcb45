using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace P2PDistill.Tests.Data;

/// <summary>Writes NumPy .npz files for the loader's tests: .npy arrays (format 1.0) in a zip, stored or deflated.</summary>
public static class NpzFiles
{
    /// <summary>One array: its dtype as NumPy writes it, its shape and its raw C-order bytes.</summary>
    public sealed record Array(string Dtype, long[] Shape, byte[] Data);

    public static byte[] Npy(Array a, int major = 1)
    {
        var shape = "(" + string.Join(", ", a.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + (a.Shape.Length == 1 ? ",)" : ")");
        var dict = $"{{'descr': '{a.Dtype}', 'fortran_order': False, 'shape': {shape}, }}";
        int prefix = 6 + 2 + (major == 1 ? 2 : 4);
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64; // header padded to 64 bytes, ending in \n
        var header = dict.PadRight(total - prefix - 1) + "\n";
        using var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)header.Length));
        else ms.Write(BitConverter.GetBytes((uint)header.Length));
        ms.Write(Encoding.Latin1.GetBytes(header));
        ms.Write(a.Data);
        return ms.ToArray();
    }

    public static void Write(string path, IReadOnlyDictionary<string, Array> arrays, bool deflate, int major = 1)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        foreach (var (name, a) in arrays)
        {
            var entry = zip.CreateEntry(name + ".npy", deflate ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
            using var s = entry.Open();
            s.Write(Npy(a, major));
        }
    }

    /// <summary>
    /// A MedMNIST-like set: <paramref name="counts"/> images per split (train, val, test) of side <paramref name="side"/>,
    /// grey (N×H×W) or RGB (N×H×W×3, channel-last); pixel (n, y, x, c) = (n*7 + y*3 + x + c*50) mod 256; label n mod classes.
    /// </summary>
    public static Dictionary<string, Array> MedMnist(int side = 4, bool rgb = false, int classes = 2, (int Train, int Val, int Test)? counts = null,
        string labelDtype = "|u1", bool labelColumn = true)
    {
        var (train, val, test) = counts ?? (6, 3, 4);
        var arrays = new Dictionary<string, Array>();
        foreach (var (split, n) in new[] { ("train", train), ("val", val), ("test", test) })
        {
            int c = rgb ? 3 : 1;
            var pixels = new byte[n * side * side * c];
            for (int i = 0; i < n; i++)
                for (int y = 0; y < side; y++)
                    for (int x = 0; x < side; x++)
                        for (int ch = 0; ch < c; ch++)
                            pixels[((i * side + y) * side + x) * c + ch] = (byte)((i * 7 + y * 3 + x + ch * 50) % 256);
            arrays[$"{split}_images"] = new Array("|u1", rgb ? [n, side, side, 3] : [n, side, side], pixels);
            arrays[$"{split}_labels"] = Labels(Enumerable.Range(0, n).Select(i => (long)(i % classes)).ToArray(), labelDtype, labelColumn);
        }
        return arrays;
    }

    public static Array Labels(long[] labels, string dtype = "|u1", bool column = true)
    {
        int size = dtype[^1] - '0';
        var data = new byte[labels.Length * size];
        for (int i = 0; i < labels.Length; i++)
            for (int b = 0; b < size; b++) data[i * size + b] = (byte)(labels[i] >> (8 * b));
        return new Array(dtype, column ? [labels.Length, 1] : [labels.Length], data);
    }
}
