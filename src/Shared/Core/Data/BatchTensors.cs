using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Data;

/// <summary>Turns uint8 batches into TorchSharp tensors. The returned tensors belong to the caller's dispose scope.</summary>
public static class BatchTensors
{
    /// <summary>Float32 [N, C, H, W] with (x/255 - mean[c]) / std[c]. A one-channel normalisation is applied to every channel.</summary>
    public static Tensor ToTensor(ImageBatch batch, Normalization normalization, Device? device = null)
    {
        var data = ToFloats(batch, normalization);
        var s = batch.Shape;
        var tensor = torch.tensor(data, new long[] { batch.Count, s.Channels, s.Height, s.Width });
        if (device is null || device.type == DeviceType.CPU)
            return tensor;
        using (tensor)
            return tensor.to(device);
    }

    /// <summary>Int64 [N] class labels.</summary>
    public static Tensor Labels(ImageBatch batch, Device? device = null)
    {
        var labels = new long[batch.Count];
        for (int i = 0; i < labels.Length; i++) labels[i] = batch.Labels[i];
        var tensor = torch.tensor(labels);
        if (device is null || device.type == DeviceType.CPU)
            return tensor;
        using (tensor)
            return tensor.to(device);
    }

    /// <summary>The normalised pixels as a flat float array (N*C*H*W, channel-first), via a 256-entry table per channel.</summary>
    public static float[] ToFloats(ImageBatch batch, Normalization normalization)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(normalization);
        var s = batch.Shape;
        int plane = s.Height * s.Width;
        if (batch.Pixels.Length != (long)batch.Count * s.Pixels)
            throw new ArgumentException($"Batch holds {batch.Pixels.Length} pixel bytes, but {batch.Count} images of {s} need {(long)batch.Count * s.Pixels}.", nameof(batch));
        var table = Table(normalization, s.Channels);
        var output = new float[batch.Pixels.Length];
        var pixels = batch.Pixels;
        int offset = 0;
        for (int n = 0; n < batch.Count; n++)
            for (int c = 0; c < s.Channels; c++)
            {
                var lut = table.AsSpan(c * 256, 256);
                var src = pixels.AsSpan(offset, plane);
                var dst = output.AsSpan(offset, plane);
                for (int i = 0; i < src.Length; i++)
                    dst[i] = lut[src[i]];
                offset += plane;
            }
        return output;
    }

    private static float[] Table(Normalization normalization, int channels)
    {
        int given = normalization.Mean.Length;
        if (given != normalization.Std.Length || (given != channels && given != 1))
            throw new ArgumentException($"Normalisation has {normalization.Mean.Length} means and {normalization.Std.Length} stds; the images have {channels} channel(s).", nameof(normalization));
        var table = new float[channels * 256];
        for (int c = 0; c < channels; c++)
        {
            float mean = normalization.Mean[given == 1 ? 0 : c];
            float std = normalization.Std[given == 1 ? 0 : c];
            if (!(std > 0)) throw new ArgumentException($"Normalisation std of channel {c} is {std}; it must be positive.", nameof(normalization));
            for (int v = 0; v < 256; v++)
                table[c * 256 + v] = (v / 255f - mean) / std;
        }
        return table;
    }
}
