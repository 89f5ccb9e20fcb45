using System.Text.Json;
using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// A COCO detection set: a JSON file with <c>images</c> (<c>id</c>, <c>file_name</c>, optional <c>width</c> and
/// <c>height</c>), <c>annotations</c> (<c>image_id</c>, <c>category_id</c>, <c>bbox</c> [x, y, w, h] in pixels, optional
/// <c>iscrowd</c>) and <c>categories</c> (<c>id</c>, <c>name</c>), plus the image folder. Category ids map to class indices
/// 0..C-1 in ascending id order. Images are decoded into memory and letterboxed as <see cref="YoloDetectionDataset"/>'s.
/// <list type="bullet">
/// <item>Where the files are: <c>path</c> is a directory holding split files <c>train.json</c>, <c>val.json</c>,
/// <c>test.json</c> (or <c>annotations/train.json</c>, <c>annotations/instances_train.json</c>, ...), whose images are
/// looked up in the first existing of <c>images/&lt;split&gt;/</c>, <c>&lt;split&gt;/</c>, <c>images/</c> and the directory
/// itself; or a directory with one JSON file (<c>annotations.json</c>, or the only <c>*.json</c> in it or in
/// <c>annotations/</c>), or that JSON file itself, whose images are in <c>images/</c> or beside it (beside
/// <c>annotations/</c> when the file is in such a folder). The split rules are the YOLO ones: train and test (or val as
/// test), val optional; a single file is split with a seed, round(n·testFraction) images to test.</item>
/// <item>An image without annotations is a background image (noted). <c>iscrowd</c> annotations are skipped (noted).
/// <c>width</c>/<c>height</c> that differ from the decoded image are noted and the boxes scaled to it.</item>
/// <item>Errors name the file and the entry: JSON syntax (file:line), a missing or malformed field, an annotation whose
/// image_id or category_id is unknown, an image file that does not exist, a box with zero or negative size or entirely
/// outside its image. A box partly outside is clipped, with a warning when out by more than half a pixel.</item>
/// </list>
/// </summary>
public static class CocoDetectionDataset
{
    public const double DefaultTestFraction = 0.2;

    /// <summary>How far (pixels) a box may reach outside its image before clipping it is worth a warning.</summary>
    public const double ClipTolerance = 0.5;

    private const string What = "COCO dataset";

    private static readonly string[] SplitNames = ["train", "val", "test"];

    private sealed record Category(long Id, string Name);

    private sealed record Annotation(int Index, long? Id, int Class, double X, double Y, double W, double H);

    private sealed record Image(int Index, long Id, string FileName, int? Width, int? Height, string Path, List<Annotation> Annotations);

    private sealed record Parsed(string Json, List<Category> Categories, List<Image> Images);

    public static DetectionSplits Load(string path, int size, int channels, double testFraction = DefaultTestFraction, int seed = 1)
    {
        DetectionLoading.CheckOptions(What, path, size, channels);
        var notes = new LoaderNotes();
        var shape = new ImageShape(channels, size, size);

        string? single = null, root;
        if (File.Exists(path))
        {
            if (!path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                throw new DatasetException($"{What} '{path}' is not a .json file. Set --data-path to the COCO JSON file or to the folder holding it and the images.") { Path = path };
            single = path;
            string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            root = Path.GetFileName(dir) == "annotations" ? Path.GetDirectoryName(dir)! : dir;
        }
        else if (Directory.Exists(path))
        {
            root = path;
        }
        else
        {
            throw new DatasetException($"{What} '{path}' does not exist. Set --data-path to the COCO JSON file, or to a folder holding train.json and test.json " +
                "(or one annotations.json) and the images.") { Path = path };
        }

        var splitFiles = single is null ? FindSplitFiles(root) : [];
        if (splitFiles.Count == 0)
        {
            single ??= FindSingleFile(root);
            var parsed = Parse(single, FirstDirectory(Path.Combine(root, "images"), root), notes);
            var (trainIndex, testIndex) = DetectionLoading.SeededSplit(parsed.Images.Count, testFraction, seed, "coco", What, single);
            var (images, boxes) = Decode(parsed, shape, notes);
            var classNames = parsed.Categories.Select(c => c.Name).ToArray();
            InMemoryDetectionDataset Subset(string name, int[] indices) =>
                new(name, shape, classNames, indices.Select(i => images[i]).ToArray(), indices.Select(i => boxes[i]).ToArray());
            return new DetectionSplits(Subset($"coco:{single}/train(seed {seed})", trainIndex), Subset($"coco:{single}/test(seed {seed})", testIndex))
            {
                Warnings = notes.ToList(),
            };
        }

        if (!splitFiles.ContainsKey("train"))
            throw new DatasetException($"{What} '{root}' has split files ({string.Join(", ", splitFiles.Values)}) but no train.json. Add it, or use a single annotations file " +
                "and let Data:TestFraction split it.") { Path = root };
        if (!splitFiles.ContainsKey("test") && !splitFiles.ContainsKey("val"))
            throw new DatasetException($"{What} '{root}' has {splitFiles["train"]} but no test.json or val.json. Add one, or use a single annotations file " +
                "and let Data:TestFraction split it.") { Path = root };

        var splits = new Dictionary<string, InMemoryDetectionDataset>();
        Parsed? reference = null;
        foreach (var (split, json) in splitFiles)
        {
            string imageDir = FirstDirectory(Path.Combine(root, "images", split), Path.Combine(root, split), Path.Combine(root, "images"), root);
            var parsed = Parse(json, imageDir, notes);
            if (reference is not null && !parsed.Categories.SequenceEqual(reference.Categories))
                throw new DatasetException($"{What}: '{json}' and '{reference.Json}' list different categories " +
                    $"([{Describe(parsed.Categories)}] against [{Describe(reference.Categories)}]). Every split must list the same categories.") { Path = json };
            reference ??= parsed;
            var (images, boxes) = Decode(parsed, shape, notes);
            splits[split] = new InMemoryDetectionDataset($"coco:{json}", shape, parsed.Categories.Select(c => c.Name).ToArray(), images, boxes);
        }
        var val = splits.GetValueOrDefault("val");
        if (!splits.TryGetValue("test", out var test))
        {
            notes.Add("no test split", $"{What} '{root}' has train and val files but no test file: val is used as the test split, and there is no separate validation split.");
            return new DetectionSplits(splits["train"], val!) { Warnings = notes.ToList() };
        }
        return new DetectionSplits(splits["train"], test) { Val = val, Warnings = notes.ToList() };
    }

    /// <summary>
    /// One COCO JSON file and its image folder as one dataset (no split), with the loader's warnings:
    /// <c>file_name</c>s are resolved against <paramref name="imageDirectory"/>.
    /// </summary>
    public static (InMemoryDetectionDataset Dataset, IReadOnlyList<string> Warnings) LoadFile(string json, string imageDirectory, int size, int channels)
    {
        DetectionLoading.CheckOptions(What, json, size, channels);
        if (!File.Exists(json))
            throw new DatasetException($"{What}: annotation file '{json}' does not exist.") { Path = json };
        var notes = new LoaderNotes();
        var shape = new ImageShape(channels, size, size);
        var parsed = Parse(json, imageDirectory, notes);
        var (images, boxes) = Decode(parsed, shape, notes);
        return (new InMemoryDetectionDataset($"coco:{json}", shape, parsed.Categories.Select(c => c.Name).ToArray(), images, boxes), notes.ToList());
    }

    private static string Describe(List<Category> categories) => string.Join(", ", categories.Select(c => $"{c.Id}:{c.Name}"));

    private static string FirstDirectory(params string[] candidates) => candidates.FirstOrDefault(Directory.Exists) ?? candidates[^1];

    private static SortedDictionary<string, string> FindSplitFiles(string root)
    {
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var split in SplitNames)
        {
            var file = new[] { Path.Combine(root, split + ".json"), Path.Combine(root, "annotations", split + ".json"), Path.Combine(root, "annotations", $"instances_{split}.json") }
                .FirstOrDefault(File.Exists);
            if (file is not null) found[split] = file;
        }
        return found;
    }

    private static string FindSingleFile(string root)
    {
        foreach (var name in new[] { Path.Combine(root, "annotations.json"), Path.Combine(root, "annotations", "annotations.json") })
            if (File.Exists(name)) return name;
        var jsons = new[] { root, Path.Combine(root, "annotations") }.Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.json")).Order(StringComparer.Ordinal).ToList();
        return jsons.Count switch
        {
            1 => jsons[0],
            0 => throw new DatasetException($"{What} '{root}' holds no COCO JSON file. Add annotations.json (or train.json and test.json) beside an images/ folder.") { Path = root },
            _ => throw new DatasetException($"{What} '{root}' holds several JSON files ({string.Join(", ", jsons.Select(Path.GetFileName))}) and none is named " +
                "annotations.json, train.json, val.json or test.json. Rename them, or set --data-path to the one to use.") { Path = root },
        };
    }

    private static Parsed Parse(string json, string imageDir, LoaderNotes notes)
    {
        JsonDocument document;
        try
        {
            using var stream = File.OpenRead(json);
            document = JsonDocument.Parse(stream, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new DatasetException($"COCO file '{json}:{(e.LineNumber ?? 0) + 1}' is not valid JSON ({e.Message}). Fix the file (e.g. check it with 'python -m json.tool').", e) { Path = json };
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new DatasetException($"COCO file '{json}' cannot be read ({e.Message}). Check that this user may read it (ls -l, chmod).", e) { Path = json };
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Error(json, "the top level is not a JSON object with images, annotations and categories");

            // Categories, in ascending id order: class i is the i-th.
            var categories = new List<Category>();
            foreach (var (element, i) in Array(json, root, "categories", required: true))
                categories.Add(new Category(Integer(json, element, "categories", i, "id"), Text(json, element, "categories", i, "name")));
            if (categories.Count == 0)
                throw Error(json, "the categories list is empty; list every class as {\"id\": 1, \"name\": \"polyp\"}");
            var repeated = categories.GroupBy(c => c.Id).FirstOrDefault(g => g.Count() > 1);
            if (repeated is not null)
                throw Error(json, $"category id {repeated.Key} is listed twice; category ids must be distinct");
            categories = categories.OrderBy(c => c.Id).ToList();
            var classOf = categories.Select((c, index) => (c.Id, index)).ToDictionary(t => t.Id, t => t.index);

            var images = new List<Image>();
            var imageOf = new Dictionary<long, Image>();
            foreach (var (element, i) in Array(json, root, "images", required: true))
            {
                long id = Integer(json, element, "images", i, "id");
                string fileName = Text(json, element, "images", i, "file_name");
                int? width = OptionalSize(json, element, i, "width"), height = OptionalSize(json, element, i, "height");
                var image = new Image(i, id, fileName, width, height, Path.Combine(imageDir, fileName), []);
                if (!imageOf.TryAdd(id, image))
                    throw Error(json, $"image id {id} is listed twice (images[{imageOf[id].Index}] and images[{i}]); image ids must be distinct");
                images.Add(image);
            }
            if (images.Count == 0)
                throw Error(json, "the images list is empty; list each image as {\"id\": 1, \"file_name\": \"a.png\", \"width\": 640, \"height\": 480}");

            if (!root.TryGetProperty("annotations", out _))
                notes.Add("no annotations", $"COCO file '{json}' has no annotations list: every image is a background image.");
            int crowd = 0;
            foreach (var (element, i) in Array(json, root, "annotations", required: false))
            {
                long? annotationId = element.TryGetProperty("id", out var idElement) && idElement.TryGetInt64(out long aid) ? aid : null;
                string entry = annotationId is null ? $"annotations[{i}]" : $"annotations[{i}] (id {annotationId})";
                long imageId = Integer(json, element, "annotations", i, "image_id");
                long categoryId = Integer(json, element, "annotations", i, "category_id");
                if (!imageOf.TryGetValue(imageId, out var image))
                    throw Error(json, $"{entry}: image_id {imageId} is not among the images. Add the image to the images list or delete the annotation");
                if (!classOf.TryGetValue(categoryId, out int cls))
                    throw Error(json, $"{entry}: category_id {categoryId} is not among the categories ({Describe(categories)}). Add the category or fix the annotation");
                if (element.TryGetProperty("iscrowd", out var crowdElement) && crowdElement.ValueKind == JsonValueKind.Number && crowdElement.GetDouble() != 0)
                {
                    crowd++;
                    continue;
                }
                if (!element.TryGetProperty("bbox", out var bbox) || bbox.ValueKind != JsonValueKind.Array || bbox.GetArrayLength() != 4
                    || bbox.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number || !double.IsFinite(v.GetDouble())))
                    throw Error(json, $"{entry}: bbox must be [x, y, width, height], four numbers in pixels");
                var b = bbox.EnumerateArray().Select(v => v.GetDouble()).ToArray();
                if (!(b[2] > 0 && b[3] > 0))
                    throw Error(json, $"{entry}: bbox [{string.Join(", ", b)}] has width {b[2]} and height {b[3]}; both must be positive. Fix or delete the annotation");
                image.Annotations.Add(new Annotation(i, annotationId, cls, b[0], b[1], b[2], b[3]));
            }
            if (crowd > 0)
                notes.Add("crowd", $"COCO file '{json}': skipped {crowd} iscrowd annotation(s) (crowd regions are not boxes to detect).");

            foreach (var image in images)
                if (!File.Exists(image.Path))
                    throw Error(json, $"images[{image.Index}] (id {image.Id}) names '{image.FileName}', but '{image.Path}' does not exist. " +
                        "Put the image there, fix file_name, or delete the image and its annotations");
            int background = images.Count(i => i.Annotations.Count == 0);
            if (background > 0)
                notes.Add("background images", $"COCO file '{json}': {background} of {images.Count} image(s) have no annotations: they are background images.");
            return new Parsed(json, categories, images);
        }
    }

    private static DatasetException Error(string json, string problem) => new($"COCO file '{json}': {problem}.") { Path = json };

    private static IEnumerable<(JsonElement Element, int Index)> Array(string json, JsonElement root, string name, bool required)
    {
        if (!root.TryGetProperty(name, out var array))
        {
            if (required) throw Error(json, $"there is no \"{name}\" list");
            return [];
        }
        if (array.ValueKind != JsonValueKind.Array)
            throw Error(json, $"\"{name}\" is a {array.ValueKind}, not a list");
        var items = array.EnumerateArray().Select((e, i) => (e, i)).ToList();
        foreach (var (element, i) in items)
            if (element.ValueKind != JsonValueKind.Object)
                throw Error(json, $"{name}[{i}] is a {element.ValueKind}, not an object");
        return items;
    }

    private static long Integer(string json, JsonElement element, string list, int index, string field)
    {
        if (!element.TryGetProperty(field, out var value) || value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long result))
            throw Error(json, $"{list}[{index}] has no whole-number \"{field}\"");
        return result;
    }

    private static string Text(string json, JsonElement element, string list, int index, string field)
    {
        if (!element.TryGetProperty(field, out var value) || value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(value.GetString()))
            throw Error(json, $"{list}[{index}] has no \"{field}\" text");
        return value.GetString()!;
    }

    private static int? OptionalSize(string json, JsonElement element, int index, string field)
    {
        if (!element.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int size) || size < 1)
            throw Error(json, $"images[{index}] has \"{field}\" {value}; it must be a positive whole number of pixels (or left out)");
        return size;
    }

    /// <summary>Decodes and letterboxes every image in parallel, then maps each image's boxes in order (the first error wins).</summary>
    private static (byte[][] Images, Box[][] Boxes) Decode(Parsed parsed, ImageShape shape, LoaderNotes notes)
    {
        var images = new byte[parsed.Images.Count][];
        var letterboxes = new Letterbox[parsed.Images.Count];
        var errors = new DatasetException?[parsed.Images.Count];
        Parallel.For(0, parsed.Images.Count, i =>
        {
            try { (images[i], letterboxes[i]) = Letterbox.Decode(parsed.Images[i].Path, shape.Height, shape.Channels); }
            catch (DatasetException e) { errors[i] = e; }
        });
        var firstError = errors.FirstOrDefault(e => e is not null);
        if (firstError is not null) throw firstError;

        var boxes = new Box[parsed.Images.Count][];
        for (int i = 0; i < boxes.Length; i++)
        {
            var image = parsed.Images[i];
            var letterbox = letterboxes[i];
            // Boxes are in pixels of the width and height the JSON states (of the decoded image when it states none).
            int width = image.Width ?? letterbox.SourceWidth, height = image.Height ?? letterbox.SourceHeight;
            if (width != letterbox.SourceWidth || height != letterbox.SourceHeight)
                notes.Add("size mismatch", $"COCO file '{parsed.Json}': images[{image.Index}] '{image.FileName}' is {letterbox.SourceWidth}x{letterbox.SourceHeight} " +
                    $"but the file says {width}x{height}; its boxes are scaled to the decoded size.");
            double sx = (double)letterbox.SourceWidth / width, sy = (double)letterbox.SourceHeight / height;
            var list = new List<Box>(image.Annotations.Count);
            foreach (var a in image.Annotations)
            {
                string entry = a.Id is null ? $"annotations[{a.Index}]" : $"annotations[{a.Index}] (id {a.Id})";
                double x1 = a.X, y1 = a.Y, x2 = a.X + a.W, y2 = a.Y + a.H;
                switch (DetectionLoading.Clip(ref x1, ref y1, ref x2, ref y2, width, height, ClipTolerance))
                {
                    case ClipOutcome.Degenerate:
                    case ClipOutcome.Outside:
                        throw Error(parsed.Json, $"{entry}: bbox [{a.X}, {a.Y}, {a.W}, {a.H}] lies entirely outside its {width}x{height} image '{image.FileName}'. " +
                            "COCO boxes are [x, y, width, height] in pixels; fix or delete the annotation");
                    case ClipOutcome.Clipped:
                        notes.Add("clipped boxes", $"COCO file '{parsed.Json}': {entry} bbox [{a.X}, {a.Y}, {a.W}, {a.H}] reaches outside its {width}x{height} image; clipped to it.");
                        break;
                }
                var box = letterbox.Map(a.Class, x1 * sx, y1 * sy, x2 * sx, y2 * sy);
                if (!(box.X1 < box.X2 && box.Y1 < box.Y2))
                    throw Error(parsed.Json, $"{entry}: the box is too small to survive letterboxing to {shape.Height}x{shape.Width}; delete the annotation");
                list.Add(box);
            }
            boxes[i] = list.ToArray();
        }
        return (images, boxes);
    }
}
