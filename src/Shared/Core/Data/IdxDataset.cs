using System.Buffers.Binary;
using System.IO.Compression;

namespace P2PDistill.Shared.Data;

/// <summary>The images of one IDX file (magic 0x00000803): <see cref="Count"/> images of Rows x Cols, row-major, uint8.</summary>
public sealed record IdxImages(string Path, int Count, int Rows, int Cols, byte[] Pixels);

/// <summary>
/// Reads MNIST-style IDX files (Fashion-MNIST, MNIST), raw or gzip-compressed (detected by the gzip magic 1f 8b,
/// whatever the extension). Every problem is a <see cref="DatasetException"/> naming the file.
/// </summary>
public static class IdxReader
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;

    /// <summary>Images larger than this per side are taken as a corrupt header rather than allocated.</summary>
    private const int MaxSide = 4096;

    public static IdxImages ReadImages(string path)
    {
        using var stream = OpenData(path);
        Span<byte> header = stackalloc byte[16];
        ReadHeader(stream, path, header[..4], "image");
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != ImagesMagic)
            throw Error(path, $"is not an IDX image file: magic number 0x{magic:X8}, expected 0x{ImagesMagic:X8} (unsigned bytes, 3 dimensions)"
                + (magic == LabelsMagic ? ". It looks like a label file: are the image and label file names swapped?" : ". The file is corrupt or of another format; re-download or reinstall the dataset."));
        ReadHeader(stream, path, header[4..], "image", 4);
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        int rows = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
        int cols = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
        if (count < 0 || rows <= 0 || cols <= 0 || rows > MaxSide || cols > MaxSide)
            throw Error(path, $"has an implausible IDX header: {count} images of {rows}x{cols}. The file is corrupt; re-download or reinstall the dataset.");
        long expected = (long)count * rows * cols;
        if (expected > Array.MaxLength)
            throw Error(path, $"announces {count} images of {rows}x{cols} ({expected} bytes), more than one array can hold. The header is probably corrupt.");
        var pixels = ReadBody(stream, path, expected, "pixel");
        return new IdxImages(path, count, rows, cols, pixels);
    }

    /// <summary>Reads an IDX label file (magic 0x00000801) and checks every label is below <paramref name="numClasses"/>.</summary>
    public static int[] ReadLabels(string path, int numClasses)
    {
        using var stream = OpenData(path);
        Span<byte> header = stackalloc byte[8];
        ReadHeader(stream, path, header[..4], "label");
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != LabelsMagic)
            throw Error(path, $"is not an IDX label file: magic number 0x{magic:X8}, expected 0x{LabelsMagic:X8} (unsigned bytes, 1 dimension)"
                + (magic == ImagesMagic ? ". It looks like an image file: are the image and label file names swapped?" : ". The file is corrupt or of another format; re-download or reinstall the dataset."));
        ReadHeader(stream, path, header[4..], "label", 4);
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        if (count < 0)
            throw Error(path, $"has an implausible IDX header: {count} labels. The file is corrupt; re-download or reinstall the dataset.");
        var bytes = ReadBody(stream, path, count, "label");
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int label = bytes[i];
            if (label >= numClasses)
                throw Error(path, $"has label {label} at index {i}, but the dataset has {numClasses} classes (0..{numClasses - 1}). The file is corrupt or belongs to another dataset.");
            labels[i] = label;
        }
        return labels;
    }

    /// <summary>True when the file starts with the gzip magic bytes 1f 8b.</summary>
    public static bool IsGzip(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[2];
        return file.ReadAtLeast(magic, 2, throwOnEndOfStream: false) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }

    private static Stream OpenData(string path)
    {
        if (!File.Exists(path))
            throw Error(path, "does not exist.");
        try
        {
            bool gzip = IsGzip(path);
            var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            return gzip ? new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16) : file;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"Cannot open '{path}': {e.Message}. Check the file exists and is readable.", e) { Path = path };
        }
    }

    /// <summary>Reads the next part of the header (magic first, so a wrong file type is named before its length is judged).</summary>
    private static void ReadHeader(Stream stream, string path, Span<byte> part, string kind, int alreadyRead = 0)
    {
        int read = ReadFully(stream, path, part);
        if (read < part.Length)
            throw Error(path, $"is too short for an IDX {kind} file: {alreadyRead + read} bytes, the header alone needs {(kind == "image" ? 16 : 8)}. The file is truncated or empty; re-download or reinstall the dataset.");
    }

    private static byte[] ReadBody(Stream stream, string path, long expected, string kind)
    {
        var data = new byte[expected];
        int read = ReadFully(stream, path, data);
        if (read < expected)
            throw Error(path, $"is truncated: it holds {read} of the {expected} {kind} bytes its header announces. Re-download or reinstall the dataset.");
        Span<byte> extra = stackalloc byte[1];
        if (ReadFully(stream, path, extra) != 0)
            throw Error(path, $"has data after the {expected} {kind} bytes its header announces. The file is corrupt or not an IDX file; re-download or reinstall the dataset.");
        return data;
    }

    private static int ReadFully(Stream stream, string path, Span<byte> buffer)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new DatasetException($"Cannot read '{path}': {e.Message}. The file is corrupt (bad or truncated gzip data?); re-download or reinstall the dataset.", e) { Path = path };
        }
    }

    private static DatasetException Error(string path, string what) => new($"IDX file '{path}' {what}") { Path = path };
}

/// <summary>Fashion-MNIST and MNIST: the four IDX files of a directory as train and test splits of 1x28x28 images.</summary>
public static class IdxDataset
{
    public const string FashionMnistDefaultPath = "/usr/share/datasets/fashion-mnist";
    public const string MnistDefaultPath = "/usr/share/datasets/mnist";
    public const string FashionMnistInstallHint = "sudo apt-get install dataset-fashion-mnist (installs to /usr/share/datasets/fashion-mnist)";

    public static IReadOnlyList<string> FashionMnistClasses { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static IReadOnlyList<string> MnistClasses { get; } = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public static DatasetSplits LoadFashionMnist(string? directory = null) =>
        Load("fashion-mnist", string.IsNullOrWhiteSpace(directory) ? FashionMnistDefaultPath : directory, FashionMnistClasses,
            $"Install Fashion-MNIST with: {FashionMnistInstallHint}, or set --data-path (Data:Path) to a directory holding the four IDX files.");

    public static DatasetSplits LoadMnist(string? directory = null) =>
        Load("mnist", string.IsNullOrWhiteSpace(directory) ? MnistDefaultPath : directory, MnistClasses,
            $"Debian has no MNIST package: download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz " +
            $"(e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/) into {MnistDefaultPath}, or set --data-path (Data:Path) to the directory holding them.");

    /// <summary>
    /// Loads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte from
    /// <paramref name="directory"/> (or its raw/ sub-folder, torchvision's layout). Each may be raw or end in .gz, and may
    /// use a dot before "idx" (train-images.idx3-ubyte).
    /// </summary>
    public static DatasetSplits Load(string name, string directory, IReadOnlyList<string> classNames, string installHint)
    {
        if (File.Exists(directory))
            throw new DatasetException($"{name}: dataset path '{directory}' is a file, not a directory. Set --data-path (Data:Path) to the directory " +
                "holding the four IDX files (train-images, train-labels, t10k-images, t10k-labels).") { Path = directory };
        if (!Directory.Exists(directory))
            throw new DatasetException($"{name}: dataset directory '{directory}' does not exist. {installHint}") { Path = directory };

        string trainImages = Find(name, directory, "train-images-idx3-ubyte", installHint);
        string trainLabels = Find(name, directory, "train-labels-idx1-ubyte", installHint);
        string testImages = Find(name, directory, "t10k-images-idx3-ubyte", installHint);
        string testLabels = Find(name, directory, "t10k-labels-idx1-ubyte", installHint);

        // Train and test decompress in parallel: most of the load time is gunzip.
        var test = Task.Run(() => LoadSplit($"{name}/test", testImages, testLabels, classNames));
        var train = LoadSplit($"{name}/train", trainImages, trainLabels, classNames);
        var testSet = test.GetAwaiter().GetResult();
        if (train.Shape != testSet.Shape)
            throw new DatasetException($"{name}: train images '{trainImages}' are {train.Shape} but test images '{testImages}' are {testSet.Shape}. The files belong to different datasets.") { Path = directory };
        return new DatasetSplits(train, testSet);
    }

    /// <summary>One split from an image file and a label file.</summary>
    public static InMemoryImageDataset LoadSplit(string name, string imagesPath, string labelsPath, IReadOnlyList<string> classNames)
    {
        var images = IdxReader.ReadImages(imagesPath);
        var labels = IdxReader.ReadLabels(labelsPath, classNames.Count);
        if (images.Count != labels.Length)
            throw new DatasetException($"{name}: image file '{imagesPath}' holds {images.Count} images but label file '{labelsPath}' holds {labels.Length} labels. " +
                "The two files must come from the same release; re-download or reinstall the dataset.") { Path = imagesPath };
        return InMemoryImageDataset.FromFlat(name, new ImageShape(1, images.Rows, images.Cols), classNames, images.Pixels, labels);
    }

    /// <summary>The path of an IDX file in <paramref name="directory"/>, raw preferred over .gz; error with the hint when absent.</summary>
    public static string Find(string name, string directory, string baseName, string installHint)
    {
        foreach (var candidate in Candidates(directory, baseName))
            if (File.Exists(candidate))
                return candidate;
        throw new DatasetException($"{name}: '{System.IO.Path.Combine(directory, baseName)}[.gz]' not found in '{directory}'. {installHint}") { Path = directory };
    }

    private static IEnumerable<string> Candidates(string directory, string baseName)
    {
        string dotted = baseName.Replace("-idx", ".idx", StringComparison.Ordinal);
        foreach (var dir in new[] { directory, System.IO.Path.Combine(directory, "raw") })
            foreach (var file in new[] { baseName, baseName + ".gz", dotted, dotted + ".gz" })
                yield return System.IO.Path.Combine(dir, file);
    }
}
