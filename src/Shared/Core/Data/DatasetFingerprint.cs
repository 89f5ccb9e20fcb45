using System.Security.Cryptography;
using System.Text;

namespace P2PDistill.Shared.Data;

/// <summary>
/// SHA-256 over a dataset's splits as loaded (counts, shape, class names, every label and every pixel).
/// In local data mode each node compares its own with the coordinator's before training, so nodes that
/// would build different batches (another file, another decoder build) are caught instead of silently diverging.
/// </summary>
public static class DatasetFingerprint
{
    public static string Compute(DatasetSplits splits)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var split in new[] { splits.Train, splits.Test, splits.Val }.OfType<IImageDataset>())
        {
            sha.AppendData(Encoding.UTF8.GetBytes($"{split.Count}|{split.Shape}|{string.Join(",", split.ClassNames)}|"));
            var pixels = new byte[split.Shape.Pixels];
            var label = new byte[4];
            for (int i = 0; i < split.Count; i++)
            {
                split.CopyImage(i, pixels);
                sha.AppendData(pixels);
                BitConverter.TryWriteBytes(label, split.Label(i));
                sha.AppendData(label);
            }
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }
}
