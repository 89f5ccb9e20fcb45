using P2PDistill.Shared.Data;

namespace P2PDistill.Tests.Data;

[Trait("Category", "Unit")]
public sealed class AugmentationSpecs
{
    private static readonly ImageShape Shape = new(2, 3, 4);

    // Channel 0: 1..12 row-major; channel 1: 101..112.
    private static byte[] KnownImage() => Enumerable.Range(1, 12).Concat(Enumerable.Range(101, 12)).Select(v => (byte)v).ToArray();

    private static byte[] Apply(AugmentChoice choice)
    {
        var output = new byte[Shape.Pixels];
        Augmentation.Apply(KnownImage(), output, Shape, choice);
        return output;
    }

    [Fact]
    public void Should_flip_horizontally()
    {
        var output = Apply(new AugmentChoice(0, 0, Flip: true));

        Assert.Equal(new byte[] { 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9 }, output[..12]);
        Assert.Equal(new byte[] { 104, 103, 102, 101 }, output[12..16]);
    }

    [Fact]
    public void Should_shift_with_zero_fill()
    {
        // Content moves left by 1 and up by 1: output(y, x) = input(y + 1, x + 1).
        var output = Apply(new AugmentChoice(ShiftX: 1, ShiftY: 1, Flip: false));

        Assert.Equal(new byte[] { 6, 7, 8, 0, 10, 11, 12, 0, 0, 0, 0, 0 }, output[..12]);
    }

    [Fact]
    public void Should_shift_right_and_down_then_flip()
    {
        var output = Apply(new AugmentChoice(ShiftX: -2, ShiftY: -1, Flip: true));

        // Shift: row0 = 0s; row1 = 0,0,1,2; row2 = 0,0,5,6. Then mirror each row.
        Assert.Equal(new byte[] { 0, 0, 0, 0, 2, 1, 0, 0, 6, 5, 0, 0 }, output[..12]);
    }

    [Fact]
    public void Should_leave_the_image_alone_without_augmentation()
    {
        Assert.Equal(KnownImage(), Apply(AugmentChoice.None));
        Assert.Equal(AugmentChoice.None, Augmentation.Choose(AugmentOptions.None, 1, 2, 3, 4));
    }

    [Fact]
    public void Should_choose_deterministically_from_seed_epoch_step_and_position()
    {
        var options = new AugmentOptions(CropPadding: 4, HorizontalFlip: true);
        var choices = Enumerable.Range(0, 500).Select(p => Augmentation.Choose(options, 1, 2, 3, p)).ToArray();

        Assert.Equal(choices, Enumerable.Range(0, 500).Select(p => Augmentation.Choose(options, 1, 2, 3, p)));
        Assert.NotEqual(choices, Enumerable.Range(0, 500).Select(p => Augmentation.Choose(options, 1, 2, 4, p)));
        Assert.NotEqual(choices, Enumerable.Range(0, 500).Select(p => Augmentation.Choose(options, 1, 3, 3, p)));
        Assert.NotEqual(choices, Enumerable.Range(0, 500).Select(p => Augmentation.Choose(options, 2, 2, 3, p)));
        Assert.All(choices, c => Assert.InRange(c.ShiftX, -4, 4));
        Assert.Equal(9, choices.Select(c => c.ShiftX).Distinct().Count());
        Assert.Equal(9, choices.Select(c => c.ShiftY).Distinct().Count());
        Assert.InRange(choices.Count(c => c.Flip), 200, 300);
    }

    [Fact]
    public void Should_match_the_pinned_choices_on_every_machine()
    {
        var options = new AugmentOptions(CropPadding: 4, HorizontalFlip: true);

        Assert.Equal(PinnedChoices, Enumerable.Range(0, 4).Select(p => Augmentation.Choose(options, 1, 0, 0, p)).ToArray());
    }

    // Pinned from an independent Python re-implementation.
    private static readonly AugmentChoice[] PinnedChoices = [new(4, 3, false), new(4, 0, true), new(2, 1, true), new(0, 3, true)];

    [Fact]
    public void Should_only_flip_when_padding_is_zero()
    {
        var choices = Enumerable.Range(0, 100).Select(p => Augmentation.Choose(new AugmentOptions(0, true), 1, 1, 1, p)).ToArray();

        Assert.All(choices, c => Assert.Equal((0, 0), (c.ShiftX, c.ShiftY)));
        Assert.Contains(choices, c => c.Flip);
    }

    [Fact]
    public void Should_build_the_same_augmented_batch_twice_and_change_pixels()
    {
        var data = SyntheticDataset.Load(64, 8, 4, 16, 1, seed: 3).Train;
        var indices = new BatchPlan(data.Count, 16, seed: 3).Indices(1, 2);
        var options = new AugmentOptions(CropPadding: 2, HorizontalFlip: true);

        var a = BatchBuilder.Build(data, indices, options, seed: 3, epoch: 1, step: 2);
        var b = BatchBuilder.Build(data, indices, options, seed: 3, epoch: 1, step: 2);
        var plain = BatchBuilder.Build(data, indices);

        Assert.Equal(a.Pixels, b.Pixels);
        Assert.Equal(plain.Labels, a.Labels);
        Assert.Equal(indices.Select(data.Label), plain.Labels);
        Assert.NotEqual(plain.Pixels, a.Pixels);
        // Each image is the plain one transformed by its own choice.
        int size = data.Shape.Pixels;
        for (int i = 0; i < indices.Length; i++)
        {
            var expected = new byte[size];
            Augmentation.Apply(plain.Pixels.AsSpan(i * size, size), expected, data.Shape, Augmentation.Choose(options, 3, 1, 2, i));
            Assert.Equal(expected, a.Pixels.AsSpan(i * size, size).ToArray());
        }
        Assert.Equal(a.Pixels, Augmentation.Apply(plain, options, 3, 1, 2).Pixels);
    }
}
