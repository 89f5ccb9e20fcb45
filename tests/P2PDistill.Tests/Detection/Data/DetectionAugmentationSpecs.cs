using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Data;

[Trait("Category", "Unit")]
public sealed class DetectionAugmentationSpecs
{
    private const int Side = 32;
    private static readonly ImageShape Shape = new(1, Side, Side);
    private static readonly Box Known = new(1, 4, 6, 10, 20);

    [Fact]
    public void Should_mirror_a_known_box_when_flipping()
    {
        var boxes = DetectionAugmentation.Apply([Known], Side, Side, new AugmentChoice(0, 0, Flip: true));

        Assert.Equal(new Box(1, 22, 6, 28, 20), Assert.Single(boxes));
    }

    [Fact]
    public void Should_move_a_box_by_the_crop_offset()
    {
        // Content moves left by ShiftX and up by ShiftY.
        var boxes = DetectionAugmentation.Apply([Known], Side, Side, new AugmentChoice(ShiftX: 3, ShiftY: -2, Flip: false));

        Assert.Equal(new Box(1, 1, 8, 7, 22), Assert.Single(boxes));
    }

    [Fact]
    public void Should_crop_then_mirror()
    {
        var boxes = DetectionAugmentation.Apply([Known], Side, Side, new AugmentChoice(ShiftX: 2, ShiftY: 1, Flip: true));

        Assert.Equal(new Box(1, 24, 5, 30, 19), Assert.Single(boxes));
    }

    [Fact]
    public void Should_clip_boxes_the_crop_cuts_and_drop_those_left_under_two_pixels()
    {
        Box[] boxes =
        [
            new(0, 1, 10, 8, 20),      // cut to 0..3: kept, clipped
            new(1, 0.5f, 10, 6, 20),   // cut to 0..1: dropped
            new(0, 0, 0, 4, 4),        // gone entirely
            new(1, 20, 1, 24, 3.5f),   // cut to 0..1.5 in y: dropped
            new(0, 20, 10, 21.5f, 12), // 1.5 px wide, moved but not cut: kept as it is
        ];

        var moved = DetectionAugmentation.Apply(boxes, Side, Side, new AugmentChoice(ShiftX: 5, ShiftY: 2, Flip: false));

        Assert.Equal(new Box[] { new(0, 0, 8, 3, 18), new(0, 15, 8, 16.5f, 10) }, moved);
    }

    [Fact]
    public void Should_move_the_boxes_with_the_pixels()
    {
        // A bright rectangle exactly on a box: after any crop and flip the moved box must cover exactly the bright pixels.
        var image = new byte[Shape.Pixels];
        var box = new Box(0, 5, 7, 12, 19);
        for (int y = 7; y < 19; y++)
            for (int x = 5; x < 12; x++)
                image[y * Side + x] = 200;
        var output = new byte[Shape.Pixels];
        var options = new AugmentOptions(CropPadding: 8, HorizontalFlip: true);
        for (int position = 0; position < 40; position++)
        {
            var choice = DetectionAugmentation.Choose(options, seed: 3, epoch: 1, step: 2, position);
            var moved = DetectionAugmentation.Apply(image, output, [box], Shape, choice);
            var b = Assert.Single(moved);
            for (int y = 0; y < Side; y++)
                for (int x = 0; x < Side; x++)
                {
                    bool inside = x >= b.X1 && x + 1 <= b.X2 && y >= b.Y1 && y + 1 <= b.Y2;
                    Assert.True(inside == (output[y * Side + x] == 200), $"{choice}: pixel ({x}, {y}) against {b}");
                }
        }
    }

    [Fact]
    public void Should_choose_as_classification_does_deterministically_in_seed_epoch_step_and_position()
    {
        var options = new AugmentOptions(CropPadding: 4, HorizontalFlip: true);

        var choices = Enumerable.Range(0, 16).Select(p => DetectionAugmentation.Choose(options, 1, 2, 3, p)).ToArray();

        Assert.Equal(choices, Enumerable.Range(0, 16).Select(p => Augmentation.Choose(options, 1, 2, 3, p)));
        Assert.Equal(choices, Enumerable.Range(0, 16).Select(p => DetectionAugmentation.Choose(options, 1, 2, 3, p)));
        Assert.NotEqual(choices, Enumerable.Range(0, 16).Select(p => DetectionAugmentation.Choose(options, 1, 2, 4, p)));
        Assert.NotEqual(choices, Enumerable.Range(0, 16).Select(p => DetectionAugmentation.Choose(options, 2, 2, 3, p)));
        Assert.Contains(choices, c => c.Flip);
        Assert.Contains(choices, c => !c.Flip);
    }

    [Fact]
    public void Should_leave_boxes_alone_without_augmentation()
    {
        Box[] boxes = [Known, new(0, 0, 0, 1, 1)];

        Assert.Equal(boxes, DetectionAugmentation.Apply(boxes, Side, Side, AugmentChoice.None));
    }
}
