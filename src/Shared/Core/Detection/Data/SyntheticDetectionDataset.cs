using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// A deterministic synthetic detection set, no download (docs/design/detection.md §2): 1 to 4 textured "polyps" per image
/// on a textured, mucosa-like background, two classes told apart by shape:
/// <list type="bullet">
/// <item><b>sessile</b> (class 0): a flat, broad ellipse (axis ratio 1.4–2, tilted at most ±22.6°), semi-major axis
/// 10–22 % of the side.</item>
/// <item><b>pedunculated</b> (class 1): a round head (radius 7–11.5 % of the side, axis ratio 1–1.15) on a narrow stalk
/// (0.3–0.45 head radii wide, reaching 1.1–1.9 radii beyond the head) pointing down, up, left or right; its box covers
/// head and stalk.</item>
/// </list>
/// Colour (at least 90 from the background's, summed over RGB), contrast (40–100 % of that), texture, dome shading, rim
/// and specular highlight vary per object; a stalk is a shade of its head, darker or lighter, whichever stands out more.
/// A pixel belongs to an object when its centre lies inside the shape; a box is the continuous bounding box of its shape
/// (rotated ellipse, plus stalk) clipped to the image, so every object pixel's centre lies in its box and the drawn object
/// reaches within 1.5 px of each side (the pixel grid). Objects may be cut by the image border (at least half of each side stays visible) but
/// never overlap: boxes are at least one pixel apart. Sample i of a split is a pure function of (seed, split, i), drawn
/// from <see cref="SplitMix64"/> with integer and IEEE basic arithmetic (+ − × ÷ √) only, so the same seed gives
/// byte-identical images and boxes on every machine. Images are generated in parallel and held in memory.
/// </summary>
public static class SyntheticDetectionDataset
{
    public const int TrainSplit = 0;
    public const int TestSplit = 1;

    public const int Sessile = 0;
    public const int Pedunculated = 1;

    /// <summary>The most objects an image holds (at least one always).</summary>
    public const int MaxObjects = 4;

    /// <summary>Class 0 sessile, class 1 pedunculated.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["sessile", "pedunculated"];

    private const ulong Domain = 0x44455453594E5431UL; // "DETSYNT1"
    private const int PlacementAttempts = 30;
    private const int MinColourDistance = 90;

    public static DetectionSplits Load(int trainCount, int testCount, int size, int channels, int seed)
    {
        Validate(trainCount, testCount, size, channels);
        return new DetectionSplits(
            Generate($"synthetic-polyps/train(seed {seed})", trainCount, size, channels, seed, TrainSplit),
            Generate($"synthetic-polyps/test(seed {seed})", testCount, size, channels, seed, TestSplit));
    }

    /// <summary>One split of <paramref name="count"/> images of <paramref name="size"/>², generated in parallel; sample i is <see cref="Render"/>(seed, split, i).</summary>
    public static InMemoryDetectionDataset Generate(string name, int count, int size, int channels, int seed, int split)
    {
        Validate(count, 1, size, channels);
        var shape = new ImageShape(channels, size, size);
        var images = new byte[count][];
        var boxes = new Box[count][];
        Parallel.For(0, count, i =>
        {
            var image = new byte[shape.Pixels];
            boxes[i] = Render(seed, split, i, size, channels, image);
            images[i] = image;
        });
        return new InMemoryDetectionDataset(name, shape, ClassNames, images, boxes);
    }

    /// <summary>Draws sample (seed, split, index) into <paramref name="pixels"/> (C*size*size, channel-first) and returns its boxes.</summary>
    public static Box[] Render(int seed, int split, int index, int size, int channels, Span<byte> pixels) =>
        Render(seed, split, index, size, channels, pixels, Span<byte>.Empty);

    /// <summary>
    /// Draws sample (seed, split, index) into <paramref name="pixels"/> and returns its boxes. When <paramref name="objects"/>
    /// is not empty (size*size bytes, row-major) it receives, per pixel, 0 for background or k + 1 for the pixel of box k.
    /// </summary>
    public static Box[] Render(int seed, int split, int index, int size, int channels, Span<byte> pixels, Span<byte> objects)
    {
        Validate(1, 1, size, channels);
        int plane = size * size;
        if (pixels.Length < channels * plane)
            throw new ArgumentException($"the pixel buffer holds {pixels.Length} bytes, {channels * plane} needed ({channels}x{size}x{size})", nameof(pixels));
        if (!objects.IsEmpty && objects.Length < plane)
            throw new ArgumentException($"the object mask holds {objects.Length} bytes, {plane} needed ({size}x{size})", nameof(objects));

        var rng = new SplitMix64(DeterministicHash.Hash(Domain, seed, split, index));

        // The background: a base mucosa colour, coarse and fine value noise, then per-pixel grain.
        int baseR = rng.NextInt(150, 215), baseG = rng.NextInt(70, 120), baseB = rng.NextInt(55, 105);
        var coarse = Lattice.Create(ref rng, 0, 0, size, size, size / 4, rng.NextInt(8, 28));
        var fine = Lattice.Create(ref rng, 0, 0, size, size, Math.Max(2, size / 12), rng.NextInt(3, 12));
        int grain = rng.NextInt(2, 7);

        // The objects: 1..MaxObjects wanted, each placed at the first of a few random positions where it is visible enough
        // and apart from the others (the first always fits: see Polyp.Fits).
        int wanted = 1 + rng.NextInt(MaxObjects);
        var polyps = new List<Polyp>(wanted);
        for (int k = 0; k < wanted; k++)
            for (int attempt = 0; attempt < PlacementAttempts; attempt++)
            {
                var candidate = Polyp.Create(ref rng, size);
                if (candidate.Fits(polyps))
                {
                    candidate.Dress(ref rng, baseR, baseG, baseB);
                    polyps.Add(candidate);
                    break;
                }
            }

        // Background colour planes, then each object painted over its box, then grain, clamping and the output layout.
        var noise = new int[plane];
        coarse.AddTo(noise, size);
        fine.AddTo(noise, size);
        var red = new int[plane];
        var green = new int[plane];
        var blue = new int[plane];
        for (int o = 0; o < plane; o++)
        {
            int n = noise[o];
            red[o] = baseR + n;
            green[o] = baseG + n / 2;
            blue[o] = baseB + n / 2;
        }
        var owner = new byte[plane];
        for (int k = 0; k < polyps.Count; k++)
            polyps[k].Paint(size, red, green, blue, owner, (byte)(k + 1));

        ulong bits = 0;
        int levels = 2 * grain + 1;
        for (int o = 0; o < plane; o++)
        {
            if ((o & 7) == 0) bits = rng.NextUInt64();
            int grainNoise = (int)((((bits >> (8 * (o & 7))) & 0xFF) * (ulong)levels) >> 8) - grain;
            int r = Clamp(red[o] + grainNoise), g = Clamp(green[o] + grainNoise), b = Clamp(blue[o] + grainNoise);
            if (channels == 1)
            {
                pixels[o] = (byte)((19595 * r + 38470 * g + 7471 * b + 32768) >> 16); // BT.601 luma, as ImageFolderDataset
            }
            else
            {
                pixels[o] = (byte)r;
                pixels[plane + o] = (byte)g;
                pixels[2 * plane + o] = (byte)b;
            }
        }
        if (!objects.IsEmpty) owner.AsSpan().CopyTo(objects);

        var boxes = new Box[polyps.Count];
        for (int k = 0; k < boxes.Length; k++) boxes[k] = polyps[k].Box;
        return boxes;
    }

    private static int Clamp(int v) => v < 0 ? 0 : v > 255 ? 255 : v;

    private static void Validate(int trainCount, int testCount, int size, int channels)
    {
        if (trainCount < 1 || testCount < 1)
            throw new DatasetException($"Synthetic detection set: the train ({trainCount}) and test ({testCount}) counts must be at least 1.");
        if (size is < 32 or > 1024 || size % 16 != 0)
            throw new DatasetException($"Synthetic detection set: image size {size} must be a multiple of 16 (the detector's coarsest stride) in 32..1024, e.g. 64 or 96.");
        if (channels is not (1 or 3))
            throw new DatasetException($"Synthetic detection set: {channels} channels requested; it must be 1 (grayscale) or 3 (RGB).");
    }

    /// <summary>Value noise: a lattice of uniform integers every <c>cell</c> pixels, bilinearly interpolated in integers.</summary>
    private readonly struct Lattice
    {
        private readonly int[] _values;
        private readonly int _x0, _y0, _cell, _columns;

        private Lattice(int[] values, int x0, int y0, int cell, int columns)
        {
            _values = values;
            _x0 = x0;
            _y0 = y0;
            _cell = cell;
            _columns = columns;
        }

        public static Lattice Create(ref SplitMix64 rng, int x0, int y0, int width, int height, int cell, int amplitude)
        {
            int columns = width / cell + 2, rows = height / cell + 2;
            var values = new int[columns * rows];
            for (int i = 0; i < values.Length; i++) values[i] = rng.NextInt(-amplitude, amplitude);
            return new Lattice(values, x0, y0, cell, columns);
        }

        /// <summary>Adds the noise of every pixel of a size×size image (lattice at the origin) to <paramref name="plane"/>.</summary>
        public void AddTo(int[] plane, int size)
        {
            int c = _cell, cc = c * c;
            for (int y = 0, gy = 0, fy = 0; y < size; y++)
            {
                int row = gy * _columns;
                for (int x = 0, gx = 0, fx = 0; x < size; x++)
                {
                    int i = row + gx;
                    int v = _values[i] * (c - fx) * (c - fy) + _values[i + 1] * fx * (c - fy)
                          + _values[i + _columns] * (c - fx) * fy + _values[i + _columns + 1] * fx * fy;
                    plane[y * size + x] += v / cc;
                    if (++fx == c) { fx = 0; gx++; }
                }
                if (++fy == c) { fy = 0; gy++; }
            }
        }

        public int At(int x, int y)
        {
            int lx = Math.Max(0, x - _x0), ly = Math.Max(0, y - _y0);
            int gx = lx / _cell, fx = lx % _cell, gy = ly / _cell, fy = ly % _cell, c = _cell;
            int i = gy * _columns + gx;
            if (i + _columns + 1 >= _values.Length) return _values[Math.Min(i, _values.Length - 1)];
            int v = _values[i] * (c - fx) * (c - fy) + _values[i + 1] * fx * (c - fy)
                  + _values[i + _columns] * (c - fx) * fy + _values[i + _columns + 1] * fx * fy;
            return v / (c * c);
        }
    }

    /// <summary>One object: an ellipse (the sessile body or the pedunculated head), an optional stalk, and its looks.</summary>
    private sealed class Polyp
    {
        // Ellipse: u = (dx·cos + dy·sin)/A, v = (−dx·sin + dy·cos)/B, inside when u² + v² <= 1.
        private double _cx, _cy;
        private double _a, _b, _cos, _sin;
        // Stalk: an axis-aligned rectangle, relative to the ellipse centre until placed (empty for sessile).
        private double _sx1, _sy1, _sx2, _sy2;
        private bool _stalk;
        private int _r, _g, _bl, _stalkShift, _dome, _rim, _highlight;
        private Lattice _texture;

        public Box Box { get; private set; }
        private Box _full; // before clipping

        /// <summary>The shape and place of a candidate object (its looks come with <see cref="Dress"/> once it fits).</summary>
        public static Polyp Create(ref SplitMix64 rng, int size)
        {
            var p = new Polyp();
            int cls = rng.NextInt(2);
            double minX, minY, maxX, maxY;
            if (cls == Sessile)
            {
                double a = size * (0.10 + 0.12 * rng.NextDouble());
                double b = a / (1.4 + 0.6 * rng.NextDouble());
                // cos and sin of the tilt from t = tan(θ/2) in [−0.2, 0.2] (|θ| <= 22.6°): basic arithmetic only.
                double t = -0.2 + 0.4 * rng.NextDouble();
                double cos = (1 - t * t) / (1 + t * t), sin = 2 * t / (1 + t * t);
                double hx = Math.Sqrt(a * a * cos * cos + b * b * sin * sin);
                double hy = Math.Sqrt(a * a * sin * sin + b * b * cos * cos);
                (p._a, p._b, p._cos, p._sin) = (a, b, cos, sin);
                (minX, minY, maxX, maxY) = (-hx, -hy, hx, hy);
            }
            else
            {
                double r = size * (0.07 + 0.045 * rng.NextDouble());
                double a = r * (1 + 0.15 * rng.NextDouble()), b = r;
                double reach = r * (1.1 + 0.8 * rng.NextDouble());
                double half = r * (0.3 + 0.15 * rng.NextDouble()) / 2;
                (p._a, p._b, p._cos, p._sin) = (a, b, 1, 0);
                (minX, minY, maxX, maxY) = (-a, -b, a, b);
                switch (rng.NextInt(4))
                {
                    case 0: (p._sx1, p._sy1, p._sx2, p._sy2) = (-half, 0, half, b + reach); maxY = b + reach; break;   // down
                    case 1: (p._sx1, p._sy1, p._sx2, p._sy2) = (-half, -b - reach, half, 0); minY = -b - reach; break; // up
                    case 2: (p._sx1, p._sy1, p._sx2, p._sy2) = (0, -half, a + reach, half); maxX = a + reach; break;   // right
                    default: (p._sx1, p._sy1, p._sx2, p._sy2) = (-a - reach, -half, 0, half); minX = -a - reach; break; // left
                }
                p._stalk = true;
            }

            // Place the box centre uniformly in the middle 80 % of the image; every half extent is at most a quarter of
            // the side, so at least half of the object stays inside on each axis.
            double bx = size * (0.1 + 0.8 * rng.NextDouble()), by = size * (0.1 + 0.8 * rng.NextDouble());
            p._cx = bx - (minX + maxX) / 2;
            p._cy = by - (minY + maxY) / 2;
            p._full = new Box(cls, (float)(p._cx + minX), (float)(p._cy + minY), (float)(p._cx + maxX), (float)(p._cy + maxY));
            p.Box = new Box(cls, Math.Max(0f, p._full.X1), Math.Max(0f, p._full.Y1), Math.Min(size, p._full.X2), Math.Min(size, p._full.Y2));
            if (p._stalk)
                (p._sx1, p._sy1, p._sx2, p._sy2) = (p._cx + p._sx1, p._cy + p._sy1, p._cx + p._sx2, p._cy + p._sy2);
            return p;
        }

        public void Dress(ref SplitMix64 rng, int baseR, int baseG, int baseB)
        {
            var p = this;

            // Looks: a colour at least MinColourDistance (sum over RGB) from the background's, pulled toward it by the
            // contrast; texture, dome shading, rim and highlight.
            int tr, tg, tb, tries = 0;
            do
            {
                (tr, tg, tb) = (rng.NextInt(150, 255), rng.NextInt(60, 180), rng.NextInt(50, 170));
            }
            while (Math.Abs(tr - baseR) + Math.Abs(tg - baseG) + Math.Abs(tb - baseB) < MinColourDistance && ++tries < 16);
            if (Math.Abs(tr - baseR) + Math.Abs(tg - baseG) + Math.Abs(tb - baseB) < MinColourDistance) tg = baseG + MinColourDistance;
            int contrast = rng.NextInt(40, 100);
            p._r = baseR + contrast * (tr - baseR) / 100;
            p._g = baseG + contrast * (tg - baseG) / 100;
            p._bl = baseB + contrast * (tb - baseB) / 100;
            int shift = rng.NextInt(5, 25);
            int away = Math.Abs(p._r - shift - baseR) + Math.Abs(p._g - shift - baseG) + Math.Abs(p._bl - shift - baseB)
                >= Math.Abs(p._r + shift - baseR) + Math.Abs(p._g + shift - baseG) + Math.Abs(p._bl + shift - baseB) ? -shift : shift;
            p._stalkShift = away;
            p._dome = rng.NextInt(0, 30);
            p._rim = rng.NextInt(0, 25);
            p._highlight = rng.NextBool() ? rng.NextInt(30, 70) : 0;
            int x0 = (int)p.Box.X1, y0 = (int)p.Box.Y1;
            p._texture = Lattice.Create(ref rng, x0, y0, (int)p.Box.X2 - x0 + 1, (int)p.Box.Y2 - y0 + 1, rng.NextInt(2, 5), rng.NextInt(3, 18));
        }

        /// <summary>At least half of each side visible and at least 1 px from every other box.</summary>
        public bool Fits(List<Polyp> others)
        {
            if (Box.Width < 0.5f * _full.Width || Box.Height < 0.5f * _full.Height) return false;
            foreach (var o in others)
            {
                var b = o.Box;
                bool apart = Box.X1 >= b.X2 + 1 || Box.X2 <= b.X1 - 1 || Box.Y1 >= b.Y2 + 1 || Box.Y2 <= b.Y1 - 1;
                if (!apart) return false;
            }
            return true;
        }

        /// <summary>Paints every pixel whose centre lies in this object and marks it as <paramref name="mark"/>'s.</summary>
        public void Paint(int size, int[] red, int[] green, int[] blue, byte[] owner, byte mark)
        {
            int xs = (int)Box.X1, xe = Math.Min(size - 1, (int)Box.X2), ys = (int)Box.Y1, ye = Math.Min(size - 1, (int)Box.Y2);
            for (int y = ys; y <= ye; y++)
            {
                double py = y + 0.5;
                if (py < Box.Y1 || py > Box.Y2) continue;
                for (int x = xs; x <= xe; x++)
                {
                    double px = x + 0.5;
                    if (px < Box.X1 || px > Box.X2) continue;
                    double dx = px - _cx, dy = py - _cy;
                    double u = (dx * _cos + dy * _sin) / _a, v = (-dx * _sin + dy * _cos) / _b;
                    double q = u * u + v * v;
                    int light;
                    if (q <= 1)
                    {
                        light = (int)(_dome * (1 - q)) - (q > 0.7 ? (int)(_rim * (q - 0.7) / 0.3) : 0);
                        if (_highlight > 0 && (u + 0.35) * (u + 0.35) + (v + 0.35) * (v + 0.35) < 0.04) light += _highlight;
                    }
                    else if (_stalk && px >= _sx1 && px <= _sx2 && py >= _sy1 && py <= _sy2)
                    {
                        light = _stalkShift;
                    }
                    else
                    {
                        continue;
                    }
                    int o = y * size + x, shade = light + _texture.At(x, y);
                    red[o] = _r + shade;
                    green[o] = _g + shade;
                    blue[o] = _bl + shade;
                    owner[o] = mark;
                }
            }
        }
    }
}
