using System.Security.Cryptography;
using System.Text;

namespace P2PDistill.Shared.Data;

/// <summary>
/// SHA-256 over a dataset's splits as loaded (counts, shape, class names, every label and every pixel, and for a detection
/// split every box: class and corners, after the image's label, which is its box count).
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
                if (split is Detection.IDetectionDataset detection) AppendBoxes(sha, detection.Boxes(i));
            }
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    private static void AppendBoxes(IncrementalHash sha, IReadOnlyList<Detection.Box> boxes)
    {
        Span<byte> box = stackalloc byte[20];
        foreach (var b in boxes)
        {
            BitConverter.TryWriteBytes(box, b.Class);
            BitConverter.TryWriteBytes(box[4..], b.X1);
            BitConverter.TryWriteBytes(box[8..], b.Y1);
            BitConverter.TryWriteBytes(box[12..], b.X2);
            BitConverter.TryWriteBytes(box[16..], b.Y2);
            sha.AppendData(box);
        }
    }
}
