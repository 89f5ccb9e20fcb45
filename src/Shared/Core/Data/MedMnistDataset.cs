namespace P2PDistill.Shared.Data;

/// <summary>
/// Loads a MedMNIST 2D file (PneumoniaMNIST, PathMNIST, DermaMNIST, BloodMNIST, ...): a NumPy <c>.npz</c> with
/// <c>train_</c>, <c>val_</c> and <c>test_</c> images (N×H×W grey or N×H×W×3 RGB, uint8) and labels (N or N×1 integers, one
/// class per image). Multi-label files (ChestMNIST) are refused. Every problem names the file, the array and what is wrong.
/// </summary>
public static class MedMnistDataset
{
    public static IReadOnlyList<string> Splits { get; } = ["train", "val", "test"];

    /// <summary>Loads the three splits; <paramref name="classNames"/> names the classes (default "0", "1", ...).</summary>
    public static DatasetSplits Load(string path, string dataset, IReadOnlyList<string>? classNames = null)
    {
        var arrays = NpzReader.Read(path, Splits.SelectMany(s => new[] { $"{s}_images", $"{s}_labels" }).ToList());
        var images = Splits.ToDictionary(s => s, s => arrays[$"{s}_images"]);
        var labels = Splits.ToDictionary(s => s, s => Labels(path, arrays[$"{s}_labels"]));

        var shape = ShapeOf(path, images["train"]);
        foreach (var s in Splits)
        {
            var own = ShapeOf(path, images[s]);
            if (own != shape)
                throw Error(path, $"array '{s}_images' holds {own} images but 'train_images' holds {shape}; every split must have one image size");
            if (images[s].Shape[0] != labels[s].Length)
                throw Error(path, $"array '{s}_images' holds {images[s].Shape[0]:N0} images but '{s}_labels' holds {labels[s].Length:N0} labels; " +
                                  "each image needs exactly one label");
        }

        int classes = classNames?.Count ?? (int)Math.Max(2, labels.Values.SelectMany(l => l).DefaultIfEmpty(0).Max() + 1);
        var names = classNames ?? Enumerable.Range(0, classes).Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        foreach (var s in Splits)
            for (int i = 0; i < labels[s].Length; i++)
                if ((uint)labels[s][i] >= (uint)classes)
                    throw Error(path, $"array '{s}_labels' has label {labels[s][i]} at row {i}, outside 0..{classes - 1} ({string.Join(", ", names)}); " +
                                      $"is this the file of another data set than '{dataset}'?");

        IImageDataset Split(string s) => InMemoryImageDataset.FromFlat($"{dataset}/{s}", shape, names, ChannelFirst(images[s], shape), labels[s]);
        return new DatasetSplits(Split("train"), Split("test")) { Val = Split("val") };
    }

    private static ImageShape ShapeOf(string path, NpyArray a)
    {
        if (a.Dtype is not ("|u1" or "<u1"))
            throw Error(path, $"array '{a.Name}' has dtype '{a.Dtype}'; images must be uint8 ('|u1'), as MedMNIST stores them");
        return a.Shape switch
        {
            [_, var h, var w] when h > 0 && w > 0 => new ImageShape(1, (int)h, (int)w),
            [_, var h, var w, 1 or 3] when h > 0 && w > 0 => new ImageShape((int)a.Shape[3], (int)h, (int)w),
            _ => throw Error(path, $"array '{a.Name}' has shape {a.ShapeText}; images must be N×H×W (grey) or N×H×W×3 (RGB)"),
        };
    }

    private static int[] Labels(string path, NpyArray a)
    {
        if (NpzReader.ItemSize(a.Dtype) is null)
            throw Error(path, $"array '{a.Name}' has dtype '{a.Dtype}'; labels must be integers");
        if (a.Shape is [_, > 1])
            throw Error(path, $"array '{a.Name}' has shape {a.ShapeText}: {a.Shape[1]} labels per image, a multi-label data set (like ChestMNIST). " +
                              "P2PDistill trains single-label classifiers; choose a MedMNIST file with one class per image");
        if (a.Shape is not ([_] or [_, 1]))
            throw Error(path, $"array '{a.Name}' has shape {a.ShapeText}; labels must be N or N×1");
        var labels = new int[a.Shape[0]];
        for (int i = 0; i < labels.Length; i++)
        {
            long v = NpzReader.IntegerAt(a, i);
            labels[i] = v is >= 0 and <= int.MaxValue ? (int)v : throw Error(path, $"array '{a.Name}' has label {v} at row {i}; labels must be 0 or more");
        }
        return labels;
    }

    /// <summary>The pixels channel-first (C, H, W) per image: MedMNIST stores RGB channel-last (H, W, C).</summary>
    private static byte[] ChannelFirst(NpyArray a, ImageShape shape)
    {
        if (shape.Channels == 1) return a.Data;
        int plane = shape.Height * shape.Width, c = shape.Channels;
        var result = new byte[a.Data.Length];
        for (long n = 0; n < a.Shape[0]; n++)
        {
            long offset = n * shape.Pixels;
            for (int p = 0; p < plane; p++)
                for (int ch = 0; ch < c; ch++)
                    result[offset + ch * plane + p] = a.Data[offset + p * c + ch];
        }
        return result;
    }

    private static DatasetException Error(string path, string what) => new($"'{path}' {what}.") { Path = path };
}
