using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Metrics;

/// <summary>Hand-built dense maps of logits (docs/design/detection.md §1) for the decoder and ensemble specs.</summary>
internal static class DenseMaps
{
    /// <summary>A logit far enough below the others that its softmax share is exactly 0 in double precision.</summary>
    public const float Off = -1e4f;

    /// <summary>
    /// <paramref name="images"/> images of background: every class logit −10 (score ≈ 4.5e-5, below 0.05) and every side
    /// all in bin 0 (a point-sized box).
    /// </summary>
    public static float[] Background(DetectionLayout layout, int images = 1)
    {
        var map = new float[images * layout.ValuesPerImage];
        for (int row = 0; row < images * layout.Locations; row++)
        {
            int start = row * layout.RowWidth;
            for (int c = 0; c < layout.Classes; c++) map[start + c] = -10;
            for (int side = 0; side < 4; side++)
                for (int b = 0; b < layout.Bins; b++) map[start + layout.SideColumn(side) + b] = b == 0 ? 0 : Off;
        }
        return map;
    }

    /// <summary>Sets one location's class logits and makes each side one-hot at its distance in strides (left, top, right, bottom).</summary>
    public static void Set(float[] map, DetectionLayout layout, int location, float[] classLogits, int[] sides, int image = 0)
    {
        int start = image * layout.ValuesPerImage + location * layout.RowWidth;
        classLogits.CopyTo(map, start);
        for (int side = 0; side < 4; side++)
            for (int b = 0; b < layout.Bins; b++) map[start + layout.SideColumn(side) + b] = b == sides[side] ? 0 : Off;
    }

    /// <summary>Sets one side's bin logits of one location.</summary>
    public static void SetSide(float[] map, DetectionLayout layout, int location, int side, float[] binLogits, int image = 0) =>
        binLogits.CopyTo(map, image * layout.ValuesPerImage + location * layout.RowWidth + layout.SideColumn(side));

    public static float Sigmoid(double x) => (float)(1 / (1 + Math.Exp(-x)));
}
