using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace P2PDistill.Tests.Data;

/// <summary>A fresh temporary directory, deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "p2pdistill-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string CreateDirectory(params string[] parts) => Directory.CreateDirectory(Combine(parts)).FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>Writes small IDX files and PNGs for the tests.</summary>
public static class TestFiles
{
    public static byte[] IdxImages(int count, int rows, int cols, Func<int, int, byte>? pixel = null, int magic = 0x00000803)
    {
        var data = new byte[16 + count * rows * cols];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(12), cols);
        for (int i = 0; i < count; i++)
            for (int p = 0; p < rows * cols; p++)
                data[16 + i * rows * cols + p] = pixel?.Invoke(i, p) ?? (byte)((i * 31 + p) % 256);
        return data;
    }

    public static byte[] IdxLabels(int count, Func<int, byte>? label = null, int magic = 0x00000801)
    {
        var data = new byte[8 + count];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), count);
        for (int i = 0; i < count; i++)
            data[8 + i] = label?.Invoke(i) ?? (byte)(i % 10);
        return data;
    }

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
            gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>Writes the four Fashion-MNIST files (train: <paramref name="train"/> images, test: <paramref name="test"/>), gzip or raw.</summary>
    public static void WriteIdxSet(string directory, bool gzip, int train = 12, int test = 5, int rows = 28, int cols = 28)
    {
        Directory.CreateDirectory(directory);
        void Write(string name, byte[] data)
        {
            if (gzip) File.WriteAllBytes(System.IO.Path.Combine(directory, name + ".gz"), Gzip(data));
            else File.WriteAllBytes(System.IO.Path.Combine(directory, name), data);
        }
        Write("train-images-idx3-ubyte", IdxImages(train, rows, cols));
        Write("train-labels-idx1-ubyte", IdxLabels(train));
        Write("t10k-images-idx3-ubyte", IdxImages(test, rows, cols, (i, p) => (byte)(255 - (i + p) % 256)));
        Write("t10k-labels-idx1-ubyte", IdxLabels(test, i => (byte)(9 - i % 10)));
    }

    /// <summary>Writes a PNG (or another format) of the given size filled with one colour.</summary>
    public static void WritePng(string path, int width, int height, SKColor color, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        bitmap.Erase(color);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 100);
        File.WriteAllBytes(path, data.ToArray());
    }
}
