using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Metrics;

using Detection = P2PDistill.Shared.Detection.Detection;

[Trait("Category", "Unit")]
public sealed class DetectionEnsembleSpecs
{
    private static readonly DetectionLayout Layout = new(classes: 2, height: 32, width: 32);

    [Fact]
    public void Should_turn_class_logits_into_sigmoids_and_side_logits_into_softmaxes()
    {
        var map = DenseMaps.Background(Layout);
        map[0] = 0;
        map[1] = MathF.Log(3);
        DenseMaps.SetSide(map, Layout, 0, 2, [0, MathF.Log(3), 0, 0, 0, 0, 0, 0]);
        DenseMaps.SetSide(map, Layout, 1, 0, [1000, 0, 0, 0, 0, 0, 0, 1000]);    // large logits stay finite

        var p = DetectionEnsemble.ToProbabilities(map, Layout);

        Assert.Equal(0.5f, p[0]);
        Assert.Equal(0.75f, p[1], 1e-6f);
        int right = Layout.SideColumn(2);
        Assert.Equal(0.3f, p[right + 1], 1e-6f);                                  // 3 / (7 + 3)
        Assert.All(Enumerable.Range(0, 8).Where(b => b != 1), b => Assert.Equal(0.1f, p[right + b], 1e-6f));
        int second = Layout.RowWidth + Layout.SideColumn(0);
        Assert.Equal(0.5f, p[second]);
        Assert.Equal(0.5f, p[second + 7]);
        Assert.Equal(1f, p[Layout.SideColumn(0)]);                                 // a background row: all in bin 0
        for (int row = 0; row < Layout.Locations; row++)
            for (int side = 0; side < 4; side++)
                Assert.Equal(1.0, Enumerable.Range(0, 8).Sum(b => (double)p[row * Layout.RowWidth + Layout.SideColumn(side) + b]), 1e-6);
    }

    [Fact]
    public void Should_decode_two_identical_maps_as_the_single_map()
    {
        var map = DenseMaps.Background(Layout, images: 2);
        DenseMaps.Set(map, Layout, 6, [4, 1], [1, 1, 1, 2]);
        DenseMaps.Set(map, Layout, 19, [-1, 2], [2, 1, 3, 1]);
        DenseMaps.SetSide(map, Layout, 6, 0, [0.3f, 1.2f, -0.5f, 2f, 0, 0, 0.7f, -3f]);
        DenseMaps.Set(map, Layout, 3, [0.5f, -10], [1, 0, 0, 1], image: 1);

        var ensemble = DetectionEnsemble.Decode([map, (float[])map.Clone()], Layout);
        var single = DetectionDecoder.DecodeBatch(map, Layout);

        Assert.Equal(DetectionEnsemble.ToProbabilities(map, Layout), DetectionEnsemble.MeanProbabilities([map, map], Layout));
        Assert.Equal(2, ensemble.Count);
        Assert.Equal(single[0], ensemble[0]);
        Assert.Equal(single[1], ensemble[1]);
        Assert.True(ensemble[0].Count >= 2 && ensemble[1].Count == 1, "the maps are not trivial");
    }

    [Fact]
    public void Should_average_distributions_not_logits()
    {
        var a = DenseMaps.Background(Layout);
        var b = DenseMaps.Background(Layout);
        // Location 6, point (20, 12): left one-hot at 1 stride in a, at 3 in b → 2 strides on average (16 px).
        DenseMaps.Set(a, Layout, 6, [0, -10], [1, 1, 1, 1]);
        DenseMaps.Set(b, Layout, 6, [MathF.Log(3), -10], [3, 1, 1, 1]);

        var detection = Assert.Single(DetectionEnsemble.Decode([a, b], Layout)[0]);

        Assert.Equal(new Box(0, 4, 4, 28, 20), detection.Box);
        Assert.Equal(0.625f, detection.Score, 1e-6f);                             // (0.5 + 0.75) / 2, not σ(ln 3 / 2)
    }

    [Fact]
    public void Should_reject_no_models_unequal_maps_and_partial_images()
    {
        Assert.Throws<ArgumentException>(() => DetectionEnsemble.MeanProbabilities([], Layout));
        var unequal = Assert.Throws<ArgumentException>(
            () => DetectionEnsemble.MeanProbabilities([new float[Layout.ValuesPerImage], new float[2 * Layout.ValuesPerImage]], Layout));
        Assert.Contains("perModelLogits[1] has 1360 values but perModelLogits[0] has 680", unequal.Message);
        var partial = Assert.Throws<ArgumentException>(() => DetectionEnsemble.ToProbabilities(new float[Layout.RowWidth], Layout));
        Assert.Contains("not a whole number of images", partial.Message);
    }

    [Fact]
    public void Should_give_no_detections_for_a_background_map()
    {
        IReadOnlyList<Detection> none = DetectionEnsemble.Decode([DenseMaps.Background(Layout)], Layout)[0];

        Assert.Empty(none);
    }
}
