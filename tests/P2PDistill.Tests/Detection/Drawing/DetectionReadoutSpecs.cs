using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Tests.Detection.Metrics;
using SkiaSharp;

namespace P2PDistill.Tests.Detection.Drawing;

/// <summary>A drawn prediction shows only the boxes scoring at least <see cref="DetectionReadout.DrawnScore"/>; the decoder keeps the rest.</summary>
[Trait("Category", "Unit")]
public sealed class DetectionReadoutSpecs
{
    private static readonly DetectionLayout Layout = new(2, 64, 64);

    [Fact]
    public void Should_draw_the_confident_box_and_leave_out_the_doubtful_one()
    {
        var map = DenseMaps.Background(Layout);
        // Stride-8 level: location (row 1, column 1) centred at (12, 12); location (row 5, column 5) at (44, 44). Each side one
        // stride (8 px) from its centre: boxes (4, 4)-(20, 20) and (36, 36)-(52, 52).
        var level = Layout.Levels[0];
        DenseMaps.Set(map, Layout, level.FirstLocation + 1 * level.Columns + 1, [2f, -10f], [1, 1, 1, 1]);   // score σ(2) ≈ 0.88
        DenseMaps.Set(map, Layout, level.FirstLocation + 5 * level.Columns + 5, [-10f, -1.5f], [1, 1, 1, 1]); // score σ(−1.5) ≈ 0.18
        var probabilities = DetectionEnsemble.ToProbabilities(map, Layout);
        var readout = new DetectionReadout(Layout, 3, ["sessile", "pedunculated"]);
        var split = new InMemoryDetectionDataset("black", new ImageShape(3, 64, 64), ["sessile", "pedunculated"], [new byte[3 * 64 * 64]], [[]]);

        var decoded = readout.Detections(probabilities);
        using var drawn = readout.DrawPrediction(split, 0, probabilities, scale: 1);

        Assert.Equal(2, decoded.Count); // both are above the decoder's 0.05: mAP and the printed lines see both
        Assert.True(decoded[1].Score < DetectionReadout.DrawnScore && decoded[0].Score >= DetectionReadout.DrawnScore);
        Assert.NotEqual(SKColors.Black, drawn.GetPixel(4, 12));   // the left edge of the confident box
        Assert.Equal(SKColors.Black, drawn.GetPixel(36, 44));     // the left edge of the doubtful box is not drawn
        Assert.Equal(SKColors.Black, drawn.GetPixel(52, 44));
    }
}
