using SkiaSharp;

namespace P2PDistill.Shared.Data;

/// <summary>
/// An image folder: one sub-folder per class (class names are the sorted sub-folder names, ordinal), holding PNG, JPEG,
/// BMP, GIF or WebP files at any depth below the class folder. Images are decoded with SkiaSharp, composited onto black
/// where transparent, stretched to <c>size x size</c> (bilinear with mipmaps), converted to grayscale (ITU-R BT.601 luma)
/// or kept RGB, and stored as uint8 channel-first.
/// <list type="bullet">
/// <item>If the root holds both <c>train/</c> and <c>test/</c>, they are the splits and must hold the same classes.</item>
/// <item>Otherwise every class is split on its own (stratified): its files, in ordinal path order, are shuffled with a
/// generator seeded from (seed, class name) and the first round(n * testFraction) go to test, at least one and at most n - 1.</item>
/// <item>Files with other extensions and hidden files (name starting with '.', e.g. macOS "._x.png") are ignored and
/// reported in <see cref="DatasetSplits.Warnings"/>. A class folder without any image is an error, and so is a file with an
/// image extension that does not decode.</item>
/// </list>
/// </summary>
public static class ImageFolderDataset
{
    public static IReadOnlyList<string> ImageExtensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    public static DatasetSplits Load(string root, int size, int channels, double testFraction, int seed)
    {
        if (size is < 1 or > 4096)
            throw new DatasetException($"Image folder '{root}': image size {size} is outside 1..4096; set Data:ImageSize.") { Path = root };
        if (channels is not (1 or 3))
            throw new DatasetException($"Image folder '{root}': {channels} channels requested; Data:Channels must be 1 (grayscale) or 3 (RGB).") { Path = root };
        if (File.Exists(root))
            throw new DatasetException($"Image folder '{root}' is a file, not a directory. Set --data-path (Data:Path) to the directory with one sub-folder " +
                "of images per class (optionally split into train/ and test/).") { Path = root };
        if (!Directory.Exists(root))
            throw new DatasetException($"Image folder '{root}' does not exist. Set --data-path (Data:Path) to a directory with one sub-folder of images per class " +
                "(optionally split into train/ and test/).") { Path = root };

        var warnings = new List<string>();
        var shape = new ImageShape(channels, size, size);
        string trainDir = Path.Combine(root, "train"), testDir = Path.Combine(root, "test");
        bool hasTrain = Directory.Exists(trainDir), hasTest = Directory.Exists(testDir);

        if (hasTrain && hasTest)
        {
            var trainFiles = Scan(trainDir, warnings);
            var testFiles = Scan(testDir, warnings);
            var trainClasses = trainFiles.Keys.ToArray();
            var testClasses = testFiles.Keys.ToArray();
            if (!trainClasses.SequenceEqual(testClasses, StringComparer.Ordinal))
            {
                var onlyTrain = trainClasses.Except(testClasses, StringComparer.Ordinal).ToArray();
                var onlyTest = testClasses.Except(trainClasses, StringComparer.Ordinal).ToArray();
                throw new DatasetException($"Image folder '{root}': train/ and test/ must hold the same class sub-folders. " +
                    (onlyTrain.Length > 0 ? $"Only in train/: {string.Join(", ", onlyTrain)}. " : "") +
                    (onlyTest.Length > 0 ? $"Only in test/: {string.Join(", ", onlyTest)}. " : "") +
                    "Add the missing folders or remove the extra ones.") { Path = root };
            }
            var train = Decode($"folder:{root}/train", trainFiles.Values.ToArray(), trainClasses, shape);
            var test = Decode($"folder:{root}/test", testFiles.Values.ToArray(), trainClasses, shape);
            return new DatasetSplits(train, test) { Warnings = warnings };
        }
        if (hasTrain != hasTest)
            throw new DatasetException($"Image folder '{root}' has a {(hasTrain ? "train/" : "test/")} sub-folder but no {(hasTrain ? "test/" : "train/")}. " +
                "Either provide both train/ and test/ (each with one sub-folder per class), or neither and let Data:TestFraction split the classes.") { Path = root };

        if (!(testFraction > 0 && testFraction < 1))
            throw new DatasetException($"Image folder '{root}': Data:TestFraction is {testFraction}; it must lie strictly between 0 and 1 " +
                "(or provide train/ and test/ sub-folders).") { Path = root };

        var files = Scan(root, warnings);
        var classes = files.Keys.ToArray();
        var trainSplit = new List<string>[classes.Length];
        var testSplit = new List<string>[classes.Length];
        for (int c = 0; c < classes.Length; c++)
        {
            var list = files[classes[c]].ToArray();
            if (list.Length < 2)
                throw new DatasetException($"Image folder '{Path.Combine(root, classes[c])}' holds only {list.Length} image; a train/test split needs at least 2 per class. " +
                    "Add images to it, or provide train/ and test/ sub-folders.") { Path = Path.Combine(root, classes[c]) };
            var order = Enumerable.Range(0, list.Length).ToArray();
            new SplitMix64(DeterministicHash.Hash(DeterministicHash.SplitDomain, seed, DeterministicHash.Hash(classes[c]))).Shuffle(order);
            int nTest = Math.Clamp((int)Math.Round(list.Length * testFraction, MidpointRounding.AwayFromZero), 1, list.Length - 1);
            testSplit[c] = order.Take(nTest).Order().Select(i => list[i]).ToList();
            trainSplit[c] = order.Skip(nTest).Order().Select(i => list[i]).ToList();
        }
        return new DatasetSplits(
            Decode($"folder:{root}/train(seed {seed})", trainSplit, classes, shape),
            Decode($"folder:{root}/test(seed {seed})", testSplit, classes, shape)) { Warnings = warnings };
    }

    /// <summary>Class folder name → its image files (ordinal order), classes in ordinal order. Errors for no classes or an empty class.</summary>
    private static SortedDictionary<string, List<string>> Scan(string dir, List<string> warnings)
    {
        try
        {
            return ScanReadable(dir, warnings);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new DatasetException($"Image folder '{dir}' cannot be read ({e.Message}). Check that it and its class sub-folders exist and that this user " +
                "may list and read them (ls -l, chmod, chown).", e) { Path = dir };
        }
    }

    private static SortedDictionary<string, List<string>> ScanReadable(string dir, List<string> warnings)
    {
        var classDirs = Directory.GetDirectories(dir)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .Order(StringComparer.Ordinal).ToArray();
        if (classDirs.Length == 0)
            throw new DatasetException($"Image folder '{dir}' has no class sub-folders. Put each class's images in a sub-folder named after the class " +
                "(e.g. MSS/ and MSIMUT/).") { Path = dir };
        if (classDirs.Length < 2)
            throw new DatasetException($"Image folder '{dir}' has only one class sub-folder ('{Path.GetFileName(classDirs[0])}'); classification needs at least two.") { Path = dir };

        var result = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var classDir in classDirs)
        {
            var images = new List<string>();
            var ignored = new List<string>();
            foreach (var file in Directory.EnumerateFiles(classDir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                string fileName = Path.GetFileName(file);
                if (!fileName.StartsWith('.') && ImageExtensions.Contains(Path.GetExtension(file).ToLowerInvariant()))
                    images.Add(file);
                else
                    ignored.Add(file);
            }
            if (ignored.Count > 0)
                warnings.Add($"Ignored {ignored.Count} non-image or hidden file(s) in '{classDir}', e.g. '{Path.GetFileName(ignored[0])}'.");
            if (images.Count == 0)
                throw new DatasetException($"Class folder '{classDir}' holds no images ({string.Join(", ", ImageExtensions)})" +
                    (ignored.Count > 0 ? $"; it has {ignored.Count} other file(s), e.g. '{Path.GetFileName(ignored[0])}', which cannot be read (convert TIFF to PNG)" : "") +
                    ". Add images or remove the folder.") { Path = classDir };
            result[Path.GetFileName(classDir)] = images;
        }
        return result;
    }

    private static InMemoryImageDataset Decode(string name, IReadOnlyList<List<string>> filesByClass, string[] classes, ImageShape shape)
    {
        var files = new List<string>();
        var labelList = new List<int>();
        for (int c = 0; c < filesByClass.Count; c++)
            foreach (var file in filesByClass[c])
            {
                files.Add(file);
                labelList.Add(c);
            }
        var images = new byte[files.Count][];
        var errors = new DatasetException?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try { images[i] = DecodeImage(files[i], shape.Height, shape.Channels); }
            catch (DatasetException e) { errors[i] = e; }
        });
        var firstError = errors.FirstOrDefault(e => e is not null);
        if (firstError is not null)
            throw firstError;
        return new InMemoryImageDataset(name, shape, classes, images, labelList.ToArray());
    }

    /// <summary>Decodes one image file to size x size, 1 or 3 channels, channel-first uint8.</summary>
    public static byte[] DecodeImage(string path, int size, int channels)
    {
        using var decoded = DecodeRgba(path, "delete it");
        using var resized = Resized(decoded, size, size, path);
        var bitmap = resized ?? decoded;
        return ToChannelFirst(bitmap.GetPixelSpan(), bitmap.RowBytes, size, channels);
    }

    /// <summary>
    /// Decodes an image file to premultiplied RGBA with SkiaSharp; a file that cannot be read or decoded is a
    /// <see cref="DatasetException"/> naming it, ending "Replace or <paramref name="remedy"/>". The caller disposes the bitmap.
    /// </summary>
    internal static SKBitmap DecodeRgba(string path, string remedy)
    {
        try
        {
            using var probe = File.OpenRead(path);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new DatasetException($"Image file '{path}' cannot be read ({e.Message}). Check that it exists and that this user may read it (ls -l, chmod), or {remedy}.", e) { Path = path };
        }
        using var codec = SKCodec.Create(path, out var createResult);
        if (codec is null)
            throw new DatasetException($"Image file '{path}' cannot be decoded ({createResult}): it is corrupt or not really an image. Replace or {remedy}.") { Path = path };
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0)
            throw new DatasetException($"Image file '{path}' has an empty size {info.Width}x{info.Height}. Replace or {remedy}.") { Path = path };
        var decodeInfo = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        var decoded = new SKBitmap(decodeInfo);
        var result = codec.GetPixels(decodeInfo, decoded.GetPixels());
        if (result == SKCodecResult.Success) return decoded;
        decoded.Dispose();
        throw new DatasetException($"Image file '{path}' cannot be decoded ({result}): it is corrupt or truncated. Replace or {remedy}.") { Path = path };
    }

    /// <summary>The bitmap resized bilinearly with mipmaps to width x height; null when it already has that size. The caller disposes it.</summary>
    internal static SKBitmap? Resized(SKBitmap bitmap, int width, int height, string path) =>
        bitmap.Width == width && bitmap.Height == height
            ? null
            : bitmap.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
              ?? throw new DatasetException($"Image file '{path}' could not be resized to {width}x{height}.") { Path = path };

    private static byte[] ToChannelFirst(ReadOnlySpan<byte> rgba, int rowBytes, int size, int channels)
    {
        int plane = size * size;
        var output = new byte[plane * channels];
        for (int y = 0; y < size; y++)
        {
            var row = rgba.Slice(y * rowBytes, size * 4);
            for (int x = 0; x < size; x++)
            {
                int r = row[4 * x], g = row[4 * x + 1], b = row[4 * x + 2];
                int o = y * size + x;
                if (channels == 1)
                {
                    // BT.601 luma in fixed point (weights sum to 65536): exact for gray inputs (r = g = b).
                    output[o] = (byte)((19595 * r + 38470 * g + 7471 * b + 32768) >> 16);
                }
                else
                {
                    output[o] = (byte)r;
                    output[plane + o] = (byte)g;
                    output[2 * plane + o] = (byte)b;
                }
            }
        }
        return output;
    }
}
