using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Metrics;

// Inside P2PDistill.Tests, the name Detection is this namespace; the alias names the record.
using Detection = P2PDistill.Shared.Detection.Detection;

[Trait("Category", "Unit")]
public sealed class NmsSpecs
{
    private static Detection D(int c, float x1, float y1, float x2, float y2, float score) => new(new Box(c, x1, y1, x2, y2), score);

    [Fact]
    public void Should_compute_iou_without_the_extra_pixel()
    {
        var a = new Box(0, 0, 0, 10, 10);
        Assert.Equal(1.0, Nms.Iou(a, a));
        Assert.Equal(0.6, Nms.Iou(a, new Box(0, 0, 0, 10, 6)));               // 60 / 100
        Assert.Equal(25.0 / 175, Nms.Iou(a, new Box(1, 5, 5, 15, 15)), 15);   // classes are ignored
        Assert.Equal(0.0, Nms.Iou(a, new Box(0, 10, 0, 20, 10)));             // touching edges
        Assert.Equal(0.0, Nms.Iou(a, new Box(0, 20, 20, 30, 30)));            // disjoint
        Assert.Equal(0.0, Nms.Iou(new Box(0, 5, 5, 5, 5), new Box(0, 5, 5, 5, 5))); // no area
    }

    [Fact]
    public void Should_suppress_a_lower_scored_box_of_the_same_class_above_the_threshold()
    {
        var kept = Nms.Apply([D(0, 0, 0, 10, 10, 0.8f), D(0, 1, 0, 11, 10, 0.9f)], 0.6);   // IoU 9/11

        Assert.Equal([D(0, 1, 0, 11, 10, 0.9f)], kept);
    }

    [Fact]
    public void Should_keep_a_box_whose_iou_equals_the_threshold()
    {
        var kept = Nms.Keep([D(0, 0, 0, 10, 10, 0.9f), D(0, 0, 0, 10, 6, 0.8f)], 0.6);   // IoU exactly 0.6

        Assert.Equal([0, 1], kept);
    }

    [Fact]
    public void Should_not_suppress_across_classes()
    {
        var kept = Nms.Keep([D(0, 0, 0, 10, 10, 0.9f), D(1, 0, 0, 10, 10, 0.8f)], 0.6);

        Assert.Equal([0, 1], kept);
    }

    [Fact]
    public void Should_compare_only_with_kept_boxes()
    {
        // A suppresses B (IoU 8/12); C overlaps B as much but A only 6/14, so C stays.
        Detection a = D(0, 0, 0, 10, 10, 0.9f), b = D(0, 2, 0, 12, 10, 0.8f), c = D(0, 4, 0, 14, 10, 0.7f);

        Assert.Equal([a, c], Nms.Apply([c, b, a], 0.6));
    }

    [Fact]
    public void Should_order_by_score_then_index_and_stop_at_the_cap()
    {
        var detections = new[]
        {
            D(0, 0, 0, 5, 5, 0.5f), D(0, 10, 10, 15, 15, 0.9f), D(1, 20, 20, 25, 25, 0.5f), D(0, 30, 30, 35, 35, 0.7f),
        };

        Assert.Equal([1, 3, 0, 2], Nms.Keep(detections, 0.6));
        Assert.Equal([1, 3], Nms.Keep(detections, 0.6, maxKept: 2));
        Assert.Empty(Nms.Keep([], 0.6));
    }

    [Fact]
    public void Should_reject_a_nan_score_and_a_threshold_outside_zero_to_one()
    {
        var ex = Assert.Throws<ArgumentException>(() => Nms.Keep([D(0, 0, 0, 1, 1, 0.5f), D(0, 0, 0, 1, 1, float.NaN)]));
        Assert.Contains("detections[1] has a NaN score", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Nms.Keep([], 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Nms.Keep([], 0.5, -1));
    }
}
