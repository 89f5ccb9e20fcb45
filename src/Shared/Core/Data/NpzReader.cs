using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace P2PDistill.Shared.Data;

/// <summary>
/// One NumPy array as stored in a <c>.npy</c> entry: its dtype (<c>descr</c>, e.g. <c>|u1</c>, <c>&lt;i8</c>), its shape, and its
/// raw bytes in C order.
/// </summary>
public sealed record NpyArray(string Name, string Dtype, long[] Shape, byte[] Data)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The shape as NumPy prints it: (4690, 28, 28).</summary>
    public string ShapeText => "(" + string.Join(", ", Shape) + (Shape.Length == 1 ? ",)" : ")");
}

/// <summary>
/// Reads NumPy <c>.npz</c> files: a zip (stored or deflated) of <c>.npy</c> arrays, format versions 1 to 3. Every problem is a
/// <see cref="DatasetException"/> that names the file, the array and what is wrong.
/// </summary>
public static class NpzReader
{
    private static readonly byte[] NpyMagic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
    private static readonly Regex Descr = new(@"'descr'\s*:\s*'(?<v>[^']*)'");
    private static readonly Regex Fortran = new(@"'fortran_order'\s*:\s*(?<v>True|False)");
    private static readonly Regex ShapeText = new(@"'shape'\s*:\s*\((?<v>[^)]*)\)");

    /// <summary>Reads the named arrays of <paramref name="path"/> (without the .npy suffix); a missing one is an error.</summary>
    public static IReadOnlyDictionary<string, NpyArray> Read(string path, IReadOnlyCollection<string> names)
    {
        ZipArchive zip;
        FileStream file;
        try
        {
            file = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(path, $"cannot be read: {e.Message}");
        }
        using (file)
        {
            Span<byte> magic = stackalloc byte[4];
            if (file.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || magic[0] != (byte)'P' || magic[1] != (byte)'K')
                throw Error(path, "is not a NumPy .npz file (a zip archive): it does not start with the zip signature 'PK'. " +
                                  "Give a MedMNIST .npz file as downloaded, not a .npy array or another format");
            file.Position = 0;
            try
            {
                zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
            }
            catch (InvalidDataException e)
            {
                throw Error(path, $"is not a readable zip archive ({e.Message}); the file is probably truncated or corrupt: download it again");
            }
            using (zip)
            {
                var arrays = new Dictionary<string, NpyArray>();
                foreach (var name in names)
                {
                    var entry = zip.GetEntry(name + ".npy") ?? throw Error(path,
                        $"has no array '{name}'; it holds {string.Join(", ", zip.Entries.Select(e => Path.GetFileNameWithoutExtension(e.FullName)).DefaultIfEmpty("nothing"))}. " +
                        "A MedMNIST 2D file holds train_images, train_labels, val_images, val_labels, test_images and test_labels");
                    arrays[name] = ReadEntry(path, name, entry);
                }
                return arrays;
            }
        }
    }

    private static NpyArray ReadEntry(string path, string name, ZipArchiveEntry entry)
    {
        try
        {
            using var stream = entry.Open();
            return ReadNpy(stream, path, name);
        }
        catch (InvalidDataException e)
        {
            throw Error(path, $"array '{name}' cannot be decompressed ({e.Message}); the file is truncated or corrupt: download it again");
        }
    }

    /// <summary>Reads one .npy array from <paramref name="stream"/>; <paramref name="path"/> and <paramref name="name"/> name it in errors.</summary>
    public static NpyArray ReadNpy(Stream stream, string path, string name)
    {
        var prefix = new byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8 || !prefix.AsSpan(0, 6).SequenceEqual(NpyMagic))
            throw Error(path, $"array '{name}' is not a .npy array (bad magic; expected \\x93NUMPY)");
        int major = prefix[6];
        if (major is < 1 or > 3) throw Error(path, $"array '{name}' has .npy format version {major}.{prefix[7]}; versions 1 to 3 are supported");
        // Version 1 has a 2-byte header length, versions 2 and 3 a 4-byte one, little-endian.
        var lengthBytes = new byte[major == 1 ? 2 : 4];
        if (stream.ReadAtLeast(lengthBytes, lengthBytes.Length, throwOnEndOfStream: false) < lengthBytes.Length) throw Truncated(path, name, "header");
        long length = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes) : BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (length > 1 << 20) throw Error(path, $"array '{name}' announces a header of {length} bytes; the file is corrupt");
        int headerLength = (int)length;
        var headerBytes = new byte[headerLength];
        if (stream.ReadAtLeast(headerBytes, headerLength, throwOnEndOfStream: false) < headerLength) throw Truncated(path, name, "header");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);

        var descr = Descr.Match(header);
        var fortran = Fortran.Match(header);
        var shapeMatch = ShapeText.Match(header);
        if (!descr.Success || !fortran.Success || !shapeMatch.Success)
            throw Error(path, $"array '{name}' has a header that is not a NumPy array header: {header.Trim()}");
        if (fortran.Groups["v"].Value == "True")
            throw Error(path, $"array '{name}' is stored in Fortran order; save it in C order (numpy.ascontiguousarray) — MedMNIST files are");
        var shape = new List<long>();
        foreach (var part in shapeMatch.Groups["v"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            shape.Add(long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var d) ? d
                : throw Error(path, $"array '{name}' has a shape that is not whole numbers: ({shapeMatch.Groups["v"].Value})"));
        string dtype = descr.Groups["v"].Value;
        int itemSize = ItemSize(dtype) ?? throw Error(path, $"array '{name}' has dtype '{dtype}', which is not an integer type; MedMNIST images are uint8 ('|u1') and labels integers");
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        long bytes = elements * itemSize;
        if (elements < 0 || bytes > Array.MaxLength)
            throw Error(path, $"array '{name}' of shape ({string.Join(", ", shape)}) and dtype '{dtype}' is too large to load ({bytes:N0} bytes); use a smaller image size of the data set");
        var data = new byte[bytes];
        int read = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (read < data.Length)
            throw Error(path, $"array '{name}' is truncated: its shape ({string.Join(", ", shape)}) needs {bytes:N0} bytes of data, the file holds {read:N0}; download the file again");
        return new NpyArray(name, dtype, shape.ToArray(), data);
    }

    /// <summary>The size of an integer dtype in bytes (little-endian or single-byte), else null.</summary>
    public static int? ItemSize(string dtype) => dtype switch
    {
        "|u1" or "|i1" or "<u1" or "<i1" or "|b1" => 1,
        "<u2" or "<i2" => 2,
        "<u4" or "<i4" => 4,
        "<u8" or "<i8" => 8,
        _ => null,
    };

    /// <summary>Element <paramref name="index"/> of an integer array as a long.</summary>
    public static long IntegerAt(NpyArray a, long index) => a.Dtype switch
    {
        "|u1" or "<u1" or "|b1" => a.Data[index],
        "|i1" or "<i1" => (sbyte)a.Data[index],
        "<u2" => BinaryPrimitives.ReadUInt16LittleEndian(a.Data.AsSpan((int)(index * 2))),
        "<i2" => BinaryPrimitives.ReadInt16LittleEndian(a.Data.AsSpan((int)(index * 2))),
        "<u4" => BinaryPrimitives.ReadUInt32LittleEndian(a.Data.AsSpan((int)(index * 4))),
        "<i4" => BinaryPrimitives.ReadInt32LittleEndian(a.Data.AsSpan((int)(index * 4))),
        "<u8" => (long)BinaryPrimitives.ReadUInt64LittleEndian(a.Data.AsSpan((int)(index * 8))),
        "<i8" => BinaryPrimitives.ReadInt64LittleEndian(a.Data.AsSpan((int)(index * 8))),
        _ => throw new InvalidOperationException($"dtype {a.Dtype} is not an integer type"),
    };

    private static DatasetException Truncated(string path, string name, string part) =>
        Error(path, $"array '{name}' is truncated in its {part}; download the file again");

    private static DatasetException Error(string path, string what) => new($"'{path}' {what}.") { Path = path };
}
