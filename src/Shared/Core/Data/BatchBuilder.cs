namespace P2PDistill.Shared.Data;

/// <summary>Builds the uint8 batch for a list of sample indices: copy, then augment each image by its position.</summary>
public static class BatchBuilder
{
    /// <summary>
    /// The batch of <paramref name="indices"/> (in that order), image i augmented with
    /// <see cref="Augmentation.Choose"/>(augment, seed, epoch, step, i). Pure: the same arguments give the same bytes.
    /// </summary>
    public static ImageBatch Build(IImageDataset dataset, ReadOnlySpan<int> indices, AugmentOptions augment, int seed, int epoch, int step)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(augment);
        var shape = dataset.Shape;
        int size = shape.Pixels;
        var pixels = new byte[(long)indices.Length * size];
        var labels = new int[indices.Length];
        byte[]? scratch = augment.IsNone ? null : new byte[size];
        for (int i = 0; i < indices.Length; i++)
        {
            int index = indices[i];
            if ((uint)index >= (uint)dataset.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"sample index outside 0..{dataset.Count - 1} of {dataset.Name}");
            var destination = pixels.AsSpan(i * size, size);
            if (scratch is null)
            {
                dataset.CopyImage(index, destination);
            }
            else
            {
                dataset.CopyImage(index, scratch);
                Augmentation.Apply(scratch, destination, shape, Augmentation.Choose(augment, seed, epoch, step, i));
            }
            labels[i] = dataset.Label(index);
        }
        return new ImageBatch(shape, pixels, labels);
    }

    /// <summary>The batch of <paramref name="indices"/> without augmentation (evaluation).</summary>
    public static ImageBatch Build(IImageDataset dataset, ReadOnlySpan<int> indices) =>
        Build(dataset, indices, AugmentOptions.None, 0, 0, 0);
}
