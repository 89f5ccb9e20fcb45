using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Metrics;

using Detection = P2PDistill.Shared.Detection.Detection;

[Trait("Category", "Unit")]
public sealed class DetectionDecoderSpecs
{
    // 32x32, two classes: level stride 8 is 4x4 (locations 0..15), level stride 16 is 2x2 (16..19); D = 2 + 4·8 = 34.
    private static readonly DetectionLayout Layout = new(classes: 2, height: 32, width: 32);

    [Fact]
    public void Should_decode_one_confident_location_with_one_hot_sides_to_the_exact_box()
    {
        var map = DenseMaps.Background(Layout);
        // Location 6: stride 8, row 1, column 2, point (20, 12); sides 1, 1, 1, 2 strides.
        DenseMaps.Set(map, Layout, 6, [-10, 4], [1, 1, 1, 2]);

        var detections = DetectionDecoder.Decode(map, Layout);

        Assert.Equal([new Detection(new Box(1, 12, 4, 28, 28), DenseMaps.Sigmoid(4))], detections);
    }

    [Fact]
    public void Should_use_the_stride_of_the_locations_level()
    {
        var map = DenseMaps.Background(Layout);
        // Location 19: stride 16, row 1, column 1, point (24, 24).
        DenseMaps.Set(map, Layout, 19, [3, -10], [1, 1, 0, 0]);

        var detection = Assert.Single(DetectionDecoder.Decode(map, Layout));

        Assert.Equal(new Box(0, 8, 8, 24, 24), detection.Box);
    }

    [Fact]
    public void Should_place_each_side_at_its_expected_distance()
    {
        var map = DenseMaps.Background(Layout);
        DenseMaps.Set(map, Layout, 6, [4, -10], [1, 1, 1, 1]);
        // Left: bins 1 and 2 equally likely → 1.5 strides = 12 px; bottom: bins 0 and 2 → 1 stride = 8 px.
        DenseMaps.SetSide(map, Layout, 6, 0, [DenseMaps.Off, 0, 0, DenseMaps.Off, DenseMaps.Off, DenseMaps.Off, DenseMaps.Off, DenseMaps.Off]);
        DenseMaps.SetSide(map, Layout, 6, 3, [0, DenseMaps.Off, 0, DenseMaps.Off, DenseMaps.Off, DenseMaps.Off, DenseMaps.Off, DenseMaps.Off]);

        var detection = Assert.Single(DetectionDecoder.Decode(map, Layout));

        Assert.Equal(new Box(0, 8, 4, 28, 20), detection.Box);
    }

    [Fact]
    public void Should_clip_boxes_to_the_image()
    {
        var map = DenseMaps.Background(Layout);
        DenseMaps.Set(map, Layout, 0, [4, -10], [3, 3, 2, 2]);     // point (4, 4): (-20, -20, 20, 20)
        DenseMaps.Set(map, Layout, 19, [-10, 3], [1, 1, 7, 7]);    // point (24, 24): (8, 8, 136, 136)

        var detections = DetectionDecoder.Decode(map, Layout);

        Assert.Equal([new Box(0, 0, 0, 20, 20), new Box(1, 8, 8, 32, 32)], detections.Select(d => d.Box));
    }

    [Fact]
    public void Should_drop_scores_at_or_below_the_threshold_which_is_configurable()
    {
        var map = DenseMaps.Background(Layout);
        DenseMaps.Set(map, Layout, 6, [-3, -10], [1, 1, 1, 1]);    // σ(−3) ≈ 0.0474

        Assert.Empty(DetectionDecoder.Decode(map, Layout));
        var kept = Assert.Single(DetectionDecoder.Decode(map, Layout, new DetectionDecodeOptions { ScoreThreshold = 0.04f }));
        Assert.Equal(DenseMaps.Sigmoid(-3), kept.Score);
        Assert.Empty(DetectionDecoder.Decode(map, Layout, new DetectionDecodeOptions { ScoreThreshold = DenseMaps.Sigmoid(-3) }));
    }

    [Fact]
    public void Should_give_a_box_for_every_class_above_the_threshold_at_a_location()
    {
        var map = DenseMaps.Background(Layout);
        DenseMaps.Set(map, Layout, 6, [1, 2], [1, 1, 1, 1]);

        var detections = DetectionDecoder.Decode(map, Layout);

        Assert.Equal(
            [new Detection(new Box(1, 12, 4, 28, 20), DenseMaps.Sigmoid(2)), new Detection(new Box(0, 12, 4, 28, 20), DenseMaps.Sigmoid(1))],
            detections);
    }

    [Fact]
    public void Should_suppress_duplicates_of_a_class_but_not_across_classes()
    {
        var map = DenseMaps.Background(Layout);
        // Locations 5 (point (12, 12)) and 6 (point (20, 12)) both predict (4, 4, 28, 28) for class 0; 9 predicts it for class 1.
        DenseMaps.Set(map, Layout, 5, [3, -10], [1, 1, 2, 2]);
        DenseMaps.Set(map, Layout, 6, [2, -10], [2, 1, 1, 2]);
        DenseMaps.Set(map, Layout, 9, [-10, 1], [1, 2, 2, 1]);    // point (12, 20)

        var detections = DetectionDecoder.Decode(map, Layout);

        Assert.Equal(
            [new Detection(new Box(0, 4, 4, 28, 28), DenseMaps.Sigmoid(3)), new Detection(new Box(1, 4, 4, 28, 28), DenseMaps.Sigmoid(1))],
            detections);
    }

    [Fact]
    public void Should_keep_the_best_before_nms_and_at_most_the_cap_after_sorted_by_score()
    {
        var map = DenseMaps.Background(Layout);
        // Every location scores class 0, higher for later locations; all boxes are points (IoU 0), so NMS removes none.
        for (int location = 0; location < Layout.Locations; location++)
            DenseMaps.Set(map, Layout, location, [location * 0.1f, -10], [0, 0, 0, 0]);

        var all = DetectionDecoder.Decode(map, Layout);
        var capped = DetectionDecoder.Decode(map, Layout, new DetectionDecodeOptions { MaxDetections = 5 });
        var preNms = DetectionDecoder.Decode(map, Layout, new DetectionDecodeOptions { PreNmsTop = 3 });

        Assert.Equal(Layout.Locations, all.Count);
        Assert.Equal(all.Select(d => d.Score).OrderByDescending(s => s), all.Select(d => d.Score));
        Assert.Equal(all.Take(5), capped);
        Assert.Equal(all.Take(3), preNms);
        Assert.Equal(new Box(0, 24, 24, 24, 24), all[0].Box);     // location 19, the highest score
    }

    [Fact]
    public void Should_decode_logits_as_their_probabilities_and_each_image_of_a_batch_alone()
    {
        var map = DenseMaps.Background(Layout, images: 2);
        DenseMaps.Set(map, Layout, 6, [4, -10], [1, 1, 1, 2]);
        DenseMaps.Set(map, Layout, 10, [-10, 2], [2, 1, 1, 1], image: 1);
        var first = map.AsSpan(0, Layout.ValuesPerImage).ToArray();
        var second = map.AsSpan(Layout.ValuesPerImage).ToArray();

        var batch = DetectionDecoder.DecodeBatch(map, Layout);
        var probabilities = DetectionDecoder.DecodeProbabilitiesBatch(DetectionEnsemble.ToProbabilities(map, Layout), Layout);

        Assert.Equal(2, batch.Count);
        Assert.Equal(DetectionDecoder.Decode(first, Layout), batch[0]);
        Assert.Equal(DetectionDecoder.Decode(second, Layout), batch[1]);
        Assert.Equal(DetectionDecoder.DecodeProbabilities(DetectionEnsemble.ToProbabilities(first, Layout), Layout), batch[0]);
        Assert.Equal(batch[0], probabilities[0]);
        Assert.Equal(batch[1], probabilities[1]);
        Assert.Single(batch[1]);
        Assert.Empty(DetectionDecoder.DecodeBatch([], Layout));
    }

    [Fact]
    public void Should_reject_a_map_of_the_wrong_size_and_bad_options()
    {
        var ex = Assert.Throws<ArgumentException>(() => DetectionDecoder.Decode(new float[Layout.ValuesPerImage - 1], Layout));
        Assert.Contains("one image's dense map has 680 values (20 locations x 34)", ex.Message);
        var batch = Assert.Throws<ArgumentException>(() => DetectionDecoder.DecodeBatch(new float[Layout.ValuesPerImage + 1], Layout));
        Assert.Contains("not a whole number of images of 680 values", batch.Message);
        var map = DenseMaps.Background(Layout);
        Assert.Throws<ArgumentOutOfRangeException>(() => DetectionDecoder.Decode(map, Layout, new DetectionDecodeOptions { MaxDetections = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => DetectionDecoder.Decode(map, Layout, new DetectionDecodeOptions { NmsIou = 2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => DetectionDecoder.Decode(map, Layout, new DetectionDecodeOptions { ScoreThreshold = float.NaN }));
    }
}
