using System.Globalization;
using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// A YOLO detection folder: images (PNG, JPEG, BMP, GIF, WebP, any depth) under <c>images/</c> and, for each, a text file
/// at the same relative path under <c>labels/</c> with the extension <c>.txt</c>, one box per line:
/// <c>class cx cy w h</c>, the class a whole number 0..C-1 and the centre and size normalised to 0..1 by the image's width
/// and height. Images are decoded into memory, converted to 1 or 3 channels and letterboxed to size² (see
/// <see cref="Letterbox"/>); the boxes follow.
/// <list type="bullet">
/// <item>Splits: <c>train/</c>, <c>val/</c> and <c>test/</c> sub-folders each holding <c>images/</c> and <c>labels/</c>
/// (or, the Ultralytics way, <c>images/train</c> + <c>labels/train</c>, ...). train is required, and test or val: with
/// train and val only, val serves as test (a warning; no separate validation split). Without split folders the root's
/// <c>images/</c> + <c>labels/</c> are split with a seed: round(n·testFraction) images (default
/// <see cref="DefaultTestFraction"/>, at least 1, at most n − 1) go to test, the rest to train.</item>
/// <item>Classes: the non-empty lines of <c>classes.txt</c> in the root, else the <c>names:</c> list of <c>data.yaml</c>
/// (<c>data.yml</c>, <c>dataset.yaml</c>; flow list, block list or index map), else <c>class0..</c> from the
/// <c>classes</c> argument (<c>--classes</c>). A count given beside a names file must match it.</item>
/// <item>An image without a label file, or with an empty one, is a background image (noted, not an error). A label file
/// without an image is noted and ignored. A split without a <c>labels/</c> folder is an error.</item>
/// <item>A box partly outside the image is clipped to it, with a warning when it was out by more than 0.001 of the side
/// (rounding); a box entirely outside, one with zero or negative size, a class number outside 0..C-1 and a malformed line
/// are errors naming file:line.</item>
/// </list>
/// </summary>
public static class YoloDetectionDataset
{
    /// <summary>The share of images held out for test when the folder has no split sub-folders (Data:TestFraction).</summary>
    public const double DefaultTestFraction = 0.2;

    /// <summary>How far (normalised) a box may reach outside the image before clipping it is worth a warning.</summary>
    public const double ClipTolerance = 1e-3;

    private const string What = "YOLO folder";

    private sealed record Source(string Split, string Images, string Labels);

    private sealed record Sample(string Image, string Label, List<(int Class, double X1, double Y1, double X2, double Y2)> Boxes);

    public static DetectionSplits Load(string root, int size, int channels, int classes = 0, double testFraction = DefaultTestFraction, int seed = 1)
    {
        DetectionLoading.CheckOptions(What, root, size, channels);
        if (File.Exists(root))
            throw new DatasetException($"{What} '{root}' is a file, not a directory. Set --data-path to the folder holding images/ and labels/ " +
                "(or train/, val/ and test/ sub-folders holding them).") { Path = root };
        if (!Directory.Exists(root))
            throw new DatasetException($"{What} '{root}' does not exist. Set --data-path to the folder holding images/ and labels/ " +
                "(or train/, val/ and test/ sub-folders holding them).") { Path = root };

        var notes = new LoaderNotes();
        var (classNames, classSource) = ReadClassNames(root, classes);
        var shape = new ImageShape(channels, size, size);
        var sources = FindSplits(root, notes);

        if (sources is null)
        {
            var all = ReadSamples(new Source("", Path.Combine(root, "images"), Path.Combine(root, "labels")), classNames, classSource, notes);
            var (trainIndex, testIndex) = DetectionLoading.SeededSplit(all.Count, testFraction, seed, "yolo", What, root);
            var decoded = Decode(all, shape);
            return new DetectionSplits(
                Subset($"yolo:{root}/train(seed {seed})", decoded, trainIndex, shape, classNames),
                Subset($"yolo:{root}/test(seed {seed})", decoded, testIndex, shape, classNames)) { Warnings = notes.ToList() };
        }

        InMemoryDetectionDataset LoadSplit(Source source)
        {
            var samples = ReadSamples(source, classNames, classSource, notes);
            var (images, boxes) = Decode(samples, shape);
            return new InMemoryDetectionDataset($"yolo:{root}/{source.Split}", shape, classNames, images, boxes);
        }

        var train = LoadSplit(sources["train"]);
        var val = sources.TryGetValue("val", out var valSource) ? LoadSplit(valSource) : null;
        if (!sources.TryGetValue("test", out var testSource))
        {
            notes.Add("no test split", $"{What} '{root}' has train and val splits but no test split: val is used as the test split, and there is no separate validation split.");
            return new DetectionSplits(train, val!) { Warnings = notes.ToList() };
        }
        return new DetectionSplits(train, LoadSplit(testSource)) { Val = val, Warnings = notes.ToList() };
    }

    /// <summary>
    /// The class names: from <c>classes.txt</c>, else a <c>data.yaml</c>-style <c>names:</c> list, else <c>class0..</c>
    /// from <paramref name="classes"/>; with where they came from (for messages).
    /// </summary>
    public static (IReadOnlyList<string> Names, string Source) ReadClassNames(string root, int classes)
    {
        if (classes < 0)
            throw new DatasetException($"{What} '{root}': --classes is {classes}; give the number of classes (or 0 to read classes.txt or data.yaml).") { Path = root };
        List<string>? names = null;
        string source = "";
        string classesTxt = Path.Combine(root, "classes.txt");
        if (File.Exists(classesTxt))
        {
            names = ReadLines(classesTxt).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
            source = classesTxt;
            if (names.Count == 0)
                throw new DatasetException($"Class list '{classesTxt}' is empty. Write one class name per line (line 1 is class 0), or delete it and pass --classes.") { Path = classesTxt };
        }
        else
        {
            foreach (var candidate in new[] { "data.yaml", "data.yml", "dataset.yaml", "dataset.yml" })
            {
                string yaml = Path.Combine(root, candidate);
                if (!File.Exists(yaml)) continue;
                names = ParseYamlNames(string.Join('\n', ReadLines(yaml)), yaml)?.ToList();
                if (names is not null)
                {
                    source = yaml;
                    break;
                }
            }
        }
        if (names is null)
        {
            if (classes == 0)
                throw new DatasetException($"{What} '{root}' has no classes.txt and no data.yaml with a names: list, and --classes is not set. " +
                    "Add classes.txt (one class name per line, line 1 is class 0) or pass --classes N.") { Path = root };
            return (Enumerable.Range(0, classes).Select(c => $"class{c}").ToArray(), $"--classes {classes}");
        }
        if (classes > 0 && classes != names.Count)
            throw new DatasetException($"{What} '{root}': --classes is {classes} but '{source}' names {names.Count} classes. Drop --classes or fix the names file.") { Path = source };
        if (names.Distinct(StringComparer.Ordinal).Count() != names.Count)
            throw new DatasetException($"Class list '{source}' names a class twice ({string.Join(", ", names.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key))}). Class names must be distinct.") { Path = source };
        return (names, source);
    }

    /// <summary>
    /// The <c>names:</c> list of a YOLO data.yaml: a flow list (<c>names: [a, b]</c>), a block list (<c>- a</c> lines) or an
    /// index map (<c>0: a</c> lines, or <c>{0: a, 1: b}</c>), quotes and comments removed. Null when there is no names key.
    /// </summary>
    public static IReadOnlyList<string>? ParseYamlNames(string yaml, string path = "data.yaml")
    {
        var lines = yaml.Replace("\r", "").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = StripComment(lines[i]);
            if (!line.StartsWith("names:", StringComparison.Ordinal)) continue;
            string rest = line["names:".Length..].Trim();
            var items = new List<(string? Key, string Value)>();
            if (rest.Length > 0)
            {
                if (!(rest.StartsWith('[') && rest.EndsWith(']')) && !(rest.StartsWith('{') && rest.EndsWith('}')))
                    throw new DatasetException($"'{path}:{i + 1}': cannot read the names: value '{rest}'. Write names: [a, b] or one '- name' per line.") { Path = path };
                foreach (var part in SplitFlow(rest[1..^1]))
                    items.Add(rest[0] == '{' ? SplitKey(part, path, i + 1) : (null, Unquote(part)));
            }
            else
            {
                for (int j = i + 1; j < lines.Length; j++)
                {
                    string raw = StripComment(lines[j]);
                    if (raw.Trim().Length == 0) continue;
                    if (!char.IsWhiteSpace(raw[0]) && !raw.StartsWith('-')) break;
                    string item = raw.Trim();
                    if (item.StartsWith('-')) items.Add((null, Unquote(item[1..].Trim())));
                    else items.Add(SplitKey(item, path, j + 1));
                }
            }
            if (items.Any(t => t.Key is not null))
            {
                var byIndex = new SortedDictionary<int, string>();
                foreach (var (key, value) in items)
                {
                    if (!int.TryParse(key, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k) || k < 0 || !byIndex.TryAdd(k, value))
                        throw new DatasetException($"'{path}': the names: map has a bad or repeated index '{key}'. Number the classes 0, 1, 2, ...") { Path = path };
                }
                if (byIndex.Keys.Select((k, n) => k != n).Any(b => b))
                    throw new DatasetException($"'{path}': the names: map skips an index ({string.Join(", ", byIndex.Keys)}). Number the classes 0, 1, 2, ... without gaps.") { Path = path };
                return byIndex.Values.ToArray();
            }
            var names = items.Select(t => t.Value).ToArray();
            if (names.Length == 0 || names.Any(n => n.Length == 0))
                throw new DatasetException($"'{path}:{i + 1}': the names: list is empty or has an empty name. List one name per class.") { Path = path };
            return names;
        }
        return null;
    }

    private static string StripComment(string line)
    {
        // A '#' starts a comment at the line start or after a space, outside quotes (enough for class names).
        char quote = '\0';
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quote != '\0') { if (c == quote) quote = '\0'; }
            else if (c is '\'' or '"') quote = c;
            else if (c == '#' && (i == 0 || char.IsWhiteSpace(line[i - 1]))) return line[..i].TrimEnd();
        }
        return line.TrimEnd();
    }

    private static IEnumerable<string> SplitFlow(string text)
    {
        var parts = new List<string>();
        var current = new System.Text.StringBuilder();
        char quote = '\0';
        foreach (char c in text)
        {
            if (quote != '\0') { if (c == quote) quote = '\0'; current.Append(c); }
            else if (c is '\'' or '"') { quote = c; current.Append(c); }
            else if (c == ',') { parts.Add(current.ToString().Trim()); current.Clear(); }
            else current.Append(c);
        }
        if (current.ToString().Trim().Length > 0 || parts.Count > 0) parts.Add(current.ToString().Trim());
        return parts;
    }

    private static (string? Key, string Value) SplitKey(string item, string path, int line)
    {
        int colon = item.IndexOf(':');
        if (colon <= 0)
            throw new DatasetException($"'{path}:{line}': expected 'index: name' in the names: map, found '{item}'.") { Path = path };
        return (Unquote(item[..colon].Trim()), Unquote(item[(colon + 1)..].Trim()));
    }

    private static string Unquote(string s) =>
        s.Length >= 2 && (s[0] is '\'' or '"') && s[^1] == s[0] ? s[1..^1] : s;

    /// <summary>The split sources, or null when the root has no split folders (a seeded split of images/ + labels/).</summary>
    private static Dictionary<string, Source>? FindSplits(string root, LoaderNotes notes)
    {
        string[] splits = ["train", "val", "test"];
        var nested = splits.Where(s => Directory.Exists(Path.Combine(root, s, "images")))
            .ToDictionary(s => s, s => new Source(s, Path.Combine(root, s, "images"), Path.Combine(root, s, "labels")));
        var ultralytics = splits.Where(s => Directory.Exists(Path.Combine(root, "images", s)))
            .ToDictionary(s => s, s => new Source(s, Path.Combine(root, "images", s), Path.Combine(root, "labels", s)));
        var found = nested.Count > 0 ? nested : ultralytics.Count > 0 ? ultralytics : null;
        if (found is null)
        {
            if (!Directory.Exists(Path.Combine(root, "images")))
                throw new DatasetException($"{What} '{root}' has no images/ folder and no train/, val/ or test/ sub-folders holding one. " +
                    "Put the images in images/ and their .txt labels in labels/ (or in train/images + train/labels, test/images + test/labels).") { Path = root };
            return null;
        }
        if (nested.Count > 0 && ultralytics.Count > 0)
            notes.Add("two layouts", $"{What} '{root}' has both train/images-style and images/train-style split folders; the images/train-style ones are ignored.");
        if (!found.ContainsKey("train"))
            throw new DatasetException($"{What} '{root}' has split folders ({string.Join(", ", found.Keys)}) but no train split. Add train/images and train/labels, " +
                "or remove the split folders and let Data:TestFraction split images/.") { Path = root };
        if (!found.ContainsKey("test") && !found.ContainsKey("val"))
            throw new DatasetException($"{What} '{root}' has a train split but no test or val split. Add test/images and test/labels, " +
                "or remove the split folders and let Data:TestFraction split images/.") { Path = root };
        return found;
    }

    /// <summary>The images of one source, in ordinal path order, each with its parsed (normalised, clipped) boxes.</summary>
    private static List<Sample> ReadSamples(Source source, IReadOnlyList<string> classNames, string classSource, LoaderNotes notes)
    {
        if (!Directory.Exists(source.Labels))
            throw new DatasetException($"{What}: the images in '{source.Images}' have no labels folder '{source.Labels}'. Create it with one .txt file per image " +
                "(class cx cy w h per line; an image without a .txt file is a background image).") { Path = source.Labels };
        List<string> files;
        List<string> labelFiles;
        try
        {
            files = Directory.EnumerateFiles(source.Images, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
            labelFiles = Directory.EnumerateFiles(source.Labels, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new DatasetException($"{What}: '{source.Images}' or '{source.Labels}' cannot be read ({e.Message}). Check that this user may list and read them.", e) { Path = source.Images };
        }
        var images = new List<string>();
        var ignored = new List<string>();
        foreach (var file in files)
        {
            if (!Path.GetFileName(file).StartsWith('.') && ImageFolderDataset.ImageExtensions.Contains(Path.GetExtension(file).ToLowerInvariant()))
                images.Add(file);
            else
                ignored.Add(file);
        }
        if (ignored.Count > 0)
            notes.Add("ignored files", $"Ignored {ignored.Count} non-image or hidden file(s) in '{source.Images}', e.g. '{Path.GetFileName(ignored[0])}'.");
        if (images.Count == 0)
            throw new DatasetException($"{What}: '{source.Images}' holds no images ({string.Join(", ", ImageFolderDataset.ImageExtensions)}). Add images or point --data-path elsewhere.") { Path = source.Images };

        var samples = new List<Sample>(images.Count);
        var used = new HashSet<string>(StringComparer.Ordinal);
        int background = 0, withoutLabel = 0;
        foreach (var image in images)
        {
            string relative = Path.GetRelativePath(source.Images, image);
            string label = Path.Combine(source.Labels, Path.ChangeExtension(relative, ".txt"));
            if (!used.Add(label))
                throw new DatasetException($"{What}: two images share the label file '{label}' (e.g. x.png and x.jpg). Rename one of them.") { Path = label };
            var boxes = File.Exists(label) ? ParseLabelFile(label, classNames.Count, classSource, notes) : [];
            if (!File.Exists(label)) withoutLabel++;
            if (boxes.Count == 0) background++;
            samples.Add(new Sample(image, label, boxes));
        }
        if (background > 0)
            notes.Add("background images", $"{What}: {background} of {images.Count} image(s) in '{source.Images}' have no boxes " +
                $"({withoutLabel} without a label file, {background - withoutLabel} with an empty one): they are background images.");
        var orphans = labelFiles.Where(l => !used.Contains(l) && !string.Equals(Path.GetFileName(l), "classes.txt", StringComparison.Ordinal)).ToList();
        if (orphans.Count > 0)
            notes.Add("orphan labels", $"{What}: ignored {orphans.Count} label file(s) in '{source.Labels}' without an image, e.g. '{Path.GetFileName(orphans[0])}'.");
        return samples;
    }

    /// <summary>Parses one label file into normalised, clipped corner boxes; errors name file:line.</summary>
    internal static List<(int Class, double X1, double Y1, double X2, double Y2)> ParseLabelFile(string path, int classes, string classSource, LoaderNotes notes)
    {
        var boxes = new List<(int, double, double, double, double)>();
        var lines = ReadLines(path);
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n].Trim();
            if (line.Length == 0) continue;
            string where = $"{path}:{n + 1}";
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 5)
                throw new DatasetException($"Label line '{where}' has {fields.Length} field(s) ('{line}'); a YOLO box is 5: 'class cx cy w h', " +
                    "the class a whole number and the rest normalised to 0..1" + (fields.Length > 5 ? " (segmentation polygons are not read: convert them to boxes)" : "") +
                    ". Fix or delete the line.") { Path = path };
            if (!int.TryParse(fields[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int cls))
                throw new DatasetException($"Label line '{where}': the class '{fields[0]}' is not a whole number ('{line}'). Write 'class cx cy w h' with the class as 0, 1, 2, ...") { Path = path };
            var v = new double[4];
            for (int k = 0; k < 4; k++)
                if (!double.TryParse(fields[k + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out v[k]) || !double.IsFinite(v[k]))
                    throw new DatasetException($"Label line '{where}': '{fields[k + 1]}' is not a number ('{line}'). Write 'class cx cy w h' with '.' as the decimal point.") { Path = path };
            if (cls < 0 || cls >= classes)
                throw new DatasetException($"Label line '{where}': class {cls} but the dataset has {classes} class(es), 0..{classes - 1} (from {classSource}). " +
                    "Fix the label, or list the missing class in classes.txt or data.yaml (or raise --classes).") { Path = path };
            double cx = v[0], cy = v[1], w = v[2], h = v[3];
            double x1 = cx - w / 2, y1 = cy - h / 2, x2 = cx + w / 2, y2 = cy + h / 2;
            switch (DetectionLoading.Clip(ref x1, ref y1, ref x2, ref y2, 1, 1, ClipTolerance))
            {
                case ClipOutcome.Degenerate:
                    throw new DatasetException($"Label line '{where}': the box has width {w} and height {h} ('{line}'); both must be positive. Fix or delete the line.") { Path = path };
                case ClipOutcome.Outside:
                    throw new DatasetException($"Label line '{where}': the box ('{line}') lies entirely outside the image. YOLO coordinates are normalised to 0..1 " +
                        "(pixel coordinates must be divided by the image width and height). Fix or delete the line.") { Path = path };
                case ClipOutcome.Clipped:
                    notes.Add("clipped boxes", $"Label line '{where}': the box ('{line}') reaches outside the image; clipped to it.");
                    break;
            }
            boxes.Add((cls, x1, y1, x2, y2));
        }
        return boxes;
    }

    private static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new DatasetException($"File '{path}' cannot be read ({e.Message}). Check that this user may read it (ls -l, chmod).", e) { Path = path };
        }
    }

    /// <summary>Decodes and letterboxes every image in parallel; the boxes follow the letterbox.</summary>
    private static (byte[][] Images, Box[][] Boxes) Decode(List<Sample> samples, ImageShape shape)
    {
        var images = new byte[samples.Count][];
        var boxes = new Box[samples.Count][];
        var errors = new DatasetException?[samples.Count];
        Parallel.For(0, samples.Count, i =>
        {
            try
            {
                var (pixels, letterbox) = Letterbox.Decode(samples[i].Image, shape.Height, shape.Channels);
                images[i] = pixels;
                boxes[i] = samples[i].Boxes.Select(b => MapBox(samples[i].Label, b, letterbox)).ToArray();
            }
            catch (DatasetException e) { errors[i] = e; }
        });
        var firstError = errors.FirstOrDefault(e => e is not null);
        if (firstError is not null) throw firstError;
        return (images, boxes);
    }

    private static Box MapBox(string label, (int Class, double X1, double Y1, double X2, double Y2) b, Letterbox letterbox)
    {
        var box = letterbox.Map(b.Class, b.X1 * letterbox.SourceWidth, b.Y1 * letterbox.SourceHeight, b.X2 * letterbox.SourceWidth, b.Y2 * letterbox.SourceHeight);
        if (!(box.X1 < box.X2 && box.Y1 < box.Y2))
            throw new DatasetException($"Label file '{label}': a box of class {b.Class} is too small to survive letterboxing to {letterbox.Size}x{letterbox.Size}. Delete it.") { Path = label };
        return box;
    }

    private static InMemoryDetectionDataset Subset(string name, (byte[][] Images, Box[][] Boxes) all, int[] indices, ImageShape shape, IReadOnlyList<string> classNames) =>
        new(name, shape, classNames, indices.Select(i => all.Images[i]).ToArray(), indices.Select(i => all.Boxes[i]).ToArray());
}
