using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// Box functions on tensors of boxes [..., 4] = (x1, y1, x2, y2), elementwise over the leading dimensions. They work in
/// the dtype of their inputs and must run inside a dispose scope.
/// </summary>
public static class BoxGeometry
{
    /// <summary>The floor of a union or enclosing area, so that degenerate boxes give 0 rather than NaN.</summary>
    public const double AreaEpsilon = 1e-9;

    /// <summary>IoU(a, b) = |a ∩ b| / |a ∪ b|, [...].</summary>
    public static Tensor IoU(Tensor a, Tensor b)
    {
        var (intersection, union) = IntersectionAndUnion(a, b);
        return intersection / union.clamp_min(AreaEpsilon);
    }

    /// <summary>
    /// GIoU(a, b) = IoU − (|C| − |a ∪ b|) / |C|, C the smallest box enclosing both (Rezatofighi et al. 2019), [...].
    /// 1 for identical boxes, in (−1, 1].
    /// </summary>
    public static Tensor GIoU(Tensor a, Tensor b)
    {
        var (intersection, union) = IntersectionAndUnion(a, b);
        var safeUnion = union.clamp_min(AreaEpsilon);
        var enclosingWidth = (torch.maximum(a[TensorIndex.Ellipsis, 2], b[TensorIndex.Ellipsis, 2])
                              - torch.minimum(a[TensorIndex.Ellipsis, 0], b[TensorIndex.Ellipsis, 0])).clamp_min(0);
        var enclosingHeight = (torch.maximum(a[TensorIndex.Ellipsis, 3], b[TensorIndex.Ellipsis, 3])
                               - torch.minimum(a[TensorIndex.Ellipsis, 1], b[TensorIndex.Ellipsis, 1])).clamp_min(0);
        var enclosing = (enclosingWidth * enclosingHeight).clamp_min(AreaEpsilon);
        return intersection / safeUnion - (enclosing - safeUnion) / enclosing;
    }

    /// <summary>
    /// Boxes from a location's point and its four side distances: (px − l·s, py − t·s, px + r·s, py + b·s).
    /// </summary>
    /// <param name="points">[..., 2]: the points (x, y) in pixels.</param>
    /// <param name="strides">[...]: the stride of each point's level.</param>
    /// <param name="distances">[..., 4]: left, top, right, bottom in strides.</param>
    public static Tensor FromDistances(Tensor points, Tensor strides, Tensor distances)
    {
        var pixels = distances * strides.unsqueeze(-1);
        var px = points[TensorIndex.Ellipsis, 0];
        var py = points[TensorIndex.Ellipsis, 1];
        return stack([
            px - pixels[TensorIndex.Ellipsis, 0], py - pixels[TensorIndex.Ellipsis, 1],
            px + pixels[TensorIndex.Ellipsis, 2], py + pixels[TensorIndex.Ellipsis, 3]], -1);
    }

    private static (Tensor Intersection, Tensor Union) IntersectionAndUnion(Tensor a, Tensor b)
    {
        var width = (torch.minimum(a[TensorIndex.Ellipsis, 2], b[TensorIndex.Ellipsis, 2])
                     - torch.maximum(a[TensorIndex.Ellipsis, 0], b[TensorIndex.Ellipsis, 0])).clamp_min(0);
        var height = (torch.minimum(a[TensorIndex.Ellipsis, 3], b[TensorIndex.Ellipsis, 3])
                      - torch.maximum(a[TensorIndex.Ellipsis, 1], b[TensorIndex.Ellipsis, 1])).clamp_min(0);
        var intersection = width * height;
        return (intersection, Area(a) + Area(b) - intersection);
    }

    /// <summary>The area of boxes [..., 4], 0 for inverted boxes.</summary>
    public static Tensor Area(Tensor boxes) =>
        (boxes[TensorIndex.Ellipsis, 2] - boxes[TensorIndex.Ellipsis, 0]).clamp_min(0)
        * (boxes[TensorIndex.Ellipsis, 3] - boxes[TensorIndex.Ellipsis, 1]).clamp_min(0);
}
