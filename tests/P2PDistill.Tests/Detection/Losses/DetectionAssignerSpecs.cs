using P2PDistill.Shared.Detection;
using TorchSharp;
using static P2PDistill.Tests.Detection.Losses.DetectionLossTesting;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Losses;

/// <summary>
/// Label assignment (docs/design/detection.md §3) on hand-worked cases. The small layout (32×32, strides 8 and 16,
/// B = 4 so at most 3 strides a side): level 0 is 4×4 points at 4, 12, 20, 28 (locations 0–15, row-major), level 1 is
/// 2×2 points at 8, 24 (locations 16–19).
/// </summary>
[Trait("Category", "Unit")]
public sealed class DetectionAssignerSpecs
{
    [Fact]
    public void Should_mark_the_locations_inside_a_box_positive_and_the_rest_background()
    {
        // (12, 12) is the only level-0 point strictly inside (4, 4)–(20, 20): 8 px = 1 stride on every side;
        // at level 1, (8, 8) is inside: 4, 4, 12, 12 px = 0.25, 0.25, 0.75, 0.75 strides. Image 1 has no box.
        var targets = DetectionAssigner.Assign(Small, [[new Box(1, 4, 4, 20, 20)], []]);

        Assert.Equal((2, 20, 2), (targets.Images, targets.Locations, targets.Positives));
        Assert.Equal(40, targets.Classes.Length);
        Assert.Equal(160, targets.Boxes.Length);
        Assert.Equal(160, targets.Distances.Length);
        for (int row = 0; row < 40; row++)
            Assert.Equal(row is 5 or 16 ? 1 : -1, targets.Classes[row]);
        Assert.Equal([4f, 4, 20, 20], targets.Boxes[(5 * 4)..(5 * 4 + 4)]);
        Assert.Equal([1f, 1, 1, 1], targets.Distances[(5 * 4)..(5 * 4 + 4)]);
        Assert.Equal([0.25f, 0.25f, 0.75f, 0.75f], targets.Distances[(16 * 4)..(16 * 4 + 4)]);
        Assert.All(targets.Boxes[(20 * 4)..], v => Assert.Equal(0f, v));
        Assert.All(targets.Distances[(6 * 4)..(16 * 4)], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Should_leave_out_the_points_whose_largest_side_exceeds_the_level_range()
    {
        // The whole image (0, 0)–(32, 32): a level-0 point at 4 or 28 is 28 px = 3.5 strides from the far side (> 3),
        // so only the four inner points (12 or 20 on both axes) stay; every level-1 point is at most 24 px = 1.5 strides.
        var targets = DetectionAssigner.Assign(Small, [[new Box(0, 0, 0, 32, 32)]]);

        int[] expected = [5, 6, 9, 10, 16, 17, 18, 19];
        Assert.Equal(expected.Length, targets.Positives);
        for (int l = 0; l < 20; l++) Assert.Equal(expected.Contains(l) ? 0 : -1, targets.Classes[l]);
        // (20, 20) at stride 8: 20, 20, 12, 12 px.
        Assert.Equal([2.5f, 2.5f, 1.5f, 1.5f], targets.Distances[(10 * 4)..(10 * 4 + 4)]);
    }

    [Fact]
    public void Should_accept_a_side_of_exactly_B_minus_1_strides_and_clamp_it_below()
    {
        // (28, 28) at stride 8 is 24 px = 3 strides from the left and top of (4, 4)–(32, 32): still in range; the
        // distance is clamped to 3 − 0.01 so that its right DFL bin exists.
        var targets = DetectionAssigner.Assign(Small, [[new Box(0, 4, 4, 32, 32)]]);

        Assert.Equal(0, targets.Classes[15]);
        Assert.Equal([2.99f, 2.99f, 0.5f, 0.5f], targets.Distances[(15 * 4)..(15 * 4 + 4)]);
    }

    [Fact]
    public void Should_sample_only_points_within_two_and_a_half_strides_of_the_centre_on_each_axis()
    {
        // One level of stride 4 with 16 bins (range 60 px): the range never binds, the centre radius (10 px) does.
        // Points are at 2, 6, …, 30. A 32×4 box centred at (16, 2): x = 6 … 26 (|x − 16| <= 10) are positive, x = 2 and
        // 30 are not although they are inside the box; the same holds on the vertical axis for a 4×32 box.
        var layout = new DetectionLayout(1, 32, 32, bins: 16, strides: [4]);

        var wide = DetectionAssigner.Assign(layout, [[new Box(0, 0, 0, 32, 4)]]);
        var tall = DetectionAssigner.Assign(layout, [[new Box(0, 0, 0, 4, 32)]]);

        int[] columns = [1, 2, 3, 4, 5, 6];
        Assert.Equal(6, wide.Positives);
        for (int l = 0; l < 64; l++) Assert.Equal(l < 8 && columns.Contains(l) ? 0 : -1, wide.Classes[l]);
        Assert.Equal(6, tall.Positives);
        for (int l = 0; l < 64; l++) Assert.Equal(l % 8 == 0 && columns.Contains(l / 8) ? 0 : -1, tall.Classes[l]);
        // (6, 2): 6, 2, 26, 2 px → 1.5, 0.5, 6.5, 0.5 strides.
        Assert.Equal([1.5f, 0.5f, 6.5f, 0.5f], wide.Distances[4..8]);
    }

    [Fact]
    public void Should_give_a_location_claimed_by_several_boxes_to_the_smallest()
    {
        // (12, 12) lies in both; the 16×16 box wins over the whole image. (8, 8) at level 1 is on the small box's edge,
        // so it is not inside it and goes to the large box.
        var targets = DetectionAssigner.Assign(Small, [[new Box(0, 0, 0, 32, 32), new Box(1, 8, 8, 24, 24)]]);

        Assert.Equal(1, targets.Classes[5]);
        Assert.Equal([8f, 8, 24, 24], targets.Boxes[(5 * 4)..(5 * 4 + 4)]);
        Assert.Equal([0.5f, 0.5f, 1.5f, 1.5f], targets.Distances[(5 * 4)..(5 * 4 + 4)]);
        Assert.Equal(0, targets.Classes[16]);
        Assert.Equal([0f, 0, 32, 32], targets.Boxes[(16 * 4)..(16 * 4 + 4)]);
    }

    [Fact]
    public void Should_break_an_area_tie_by_the_lowest_box_index()
    {
        // Two 16×16 boxes both hold (12, 12); the first listed wins, whichever its class.
        var a = new Box(1, 4, 4, 20, 20);
        var b = new Box(0, 8, 8, 24, 24);

        Assert.Equal(1, DetectionAssigner.Assign(Small, [[a, b]]).Classes[5]);
        Assert.Equal(0, DetectionAssigner.Assign(Small, [[b, a]]).Classes[5]);
    }

    [Fact]
    public void Should_refuse_a_box_of_a_class_the_layout_does_not_have()
    {
        var ex = Assert.Throws<ArgumentException>(() => DetectionAssigner.Assign(Small, [[new Box(2, 0, 0, 8, 8)]]));
        Assert.Contains("class 2", ex.Message);
    }

    [Fact]
    public void Should_turn_into_tensors_of_the_map_shapes()
    {
        using var scope = NewDisposeScope();
        var targets = DetectionAssigner.Assign(Small, [[new Box(1, 4, 4, 20, 20)], []]).ToTensors(ScalarType.Float64);

        Assert.Equal([2L, 20], targets.Classes.shape);
        Assert.Equal(ScalarType.Int64, targets.Classes.dtype);
        Assert.Equal([2L, 20, 4], targets.Boxes.shape);
        Assert.Equal(ScalarType.Float64, targets.Distances.dtype);
        Assert.Equal(1L, targets.Classes[0, 5].ToInt64());
        Assert.Equal(0.75, targets.Distances[0, 16, 3].ToDouble());
    }
}
