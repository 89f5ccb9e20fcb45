using System.Globalization;

namespace P2PDistill.Shared.Detection;

/// <summary>
/// Detection scores of one model (or of the student ensemble) on one split, COCO-style (docs/design/detection.md §4).
/// Built by <see cref="MeanAveragePrecision.Compute"/>. The means over classes leave out the classes without ground
/// truth; they are null when no class has any. Arrays compare by reference, so two records holding equal numbers
/// are not <c>==</c>.
/// </summary>
/// <param name="MapAt50">Mean over classes with ground truth of their AP at IoU 0.5 (COCO's AP50).</param>
/// <param name="Map50To95">Mean over classes with ground truth of their AP averaged over IoU 0.50:0.05:0.95 (COCO's AP).</param>
/// <param name="PerClass">One entry per class, in class order.</param>
/// <param name="Detections">Detections scored (at most the per-image cap of each class in each image).</param>
/// <param name="GroundTruths">Ground-truth boxes over all images.</param>
/// <param name="Images">Images scored.</param>
/// <param name="Curve50">
/// The precision–recall curve at IoU 0.5 averaged over the classes with ground truth (the mean of their
/// <see cref="ClassAveragePrecision.Curve50"/> at each recall point, so its mean precision is <paramref name="MapAt50"/>);
/// null when no class has ground truth.
/// </param>
public sealed record DetectionMetrics(
    double? MapAt50,
    double? Map50To95,
    IReadOnlyList<ClassAveragePrecision> PerClass,
    int Detections,
    int GroundTruths,
    int Images,
    PrecisionRecallCurve? Curve50) : Metrics.IModelMetrics
{
    public double Headline => MapAt50 ?? double.NaN;
    public string HeadlineName => "mAP@0.5";
    public double Score => Map50To95 ?? double.NaN;
    public string ScoreName => "mAP@0.5:0.95";
    int Metrics.IModelMetrics.Count => Images;

    /// <summary>map50, map50_95, detections, ground_truths: the columns of a detection run's eval.csv.</summary>
    public IReadOnlyList<Metrics.MetricColumn> Columns =>
    [
        new("map50", "mAP@0.5", MapAt50), new("map50_95", "mAP@0.5:0.95", Map50To95),
        new("detections", "detections", Detections, "F0"), new("ground_truths", "ground truths", GroundTruths, "F0"),
    ];

    /// <summary>mAP@0.5, mAP@0.5:0.95 and the AP@0.5 of each class.</summary>
    public IReadOnlyList<Metrics.MetricColumn> TableColumns =>
        [Columns[0], Columns[1], .. PerClass.Select(c => new Metrics.MetricColumn("ap50_" + c.Name, $"AP@0.5 {c.Name}", c.Ap50))];

    /// <summary>The table's columns and the number of detections scored.</summary>
    public IReadOnlyList<Metrics.MetricColumn> ReportColumns => [.. TableColumns, Columns[2]];

    /// <summary>
    /// Flat scalar summary for logging: map50 and map50_95 (when defined), detections, ground_truths, images.
    /// The per-class entries and the curves are left out.
    /// </summary>
    public IReadOnlyDictionary<string, double> ToDictionary()
    {
        var d = new Dictionary<string, double>();
        if (MapAt50 is { } map50) d["map50"] = map50;
        if (Map50To95 is { } map) d["map50_95"] = map;
        d["detections"] = Detections;
        d["ground_truths"] = GroundTruths;
        d["images"] = Images;
        return d;
    }

    /// <summary>One line, e.g. <c>map50=0.8120 map50_95=0.5100 dets=312 gt=250 images=100</c> (<c>n/a</c> when undefined).</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture,
            $"map50={Format(MapAt50)} map50_95={Format(Map50To95)} dets={Detections} gt={GroundTruths} images={Images}");

    private static string Format(double? value) => value is { } v ? v.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
}

/// <summary>The average precision of one class.</summary>
/// <param name="Class">The class index.</param>
/// <param name="Name">The class name.</param>
/// <param name="GroundTruths">Its ground-truth boxes over all images.</param>
/// <param name="Detections">Its detections scored.</param>
/// <param name="Ap50">AP at IoU 0.5; null without ground truth (pycocotools' −1).</param>
/// <param name="Ap50To95">AP averaged over IoU 0.50:0.05:0.95; null without ground truth.</param>
/// <param name="Curve50">Its interpolated precision at the 101 recall points at IoU 0.5 (the values <paramref name="Ap50"/> averages); null without ground truth.</param>
public sealed record ClassAveragePrecision(
    int Class,
    string Name,
    int GroundTruths,
    int Detections,
    double? Ap50,
    double? Ap50To95,
    PrecisionRecallCurve? Curve50);

/// <summary>
/// A COCO precision–recall curve: at each recall point (<see cref="MeanAveragePrecision.RecallThresholds"/>,
/// 0:0.01:1), the interpolated precision — the highest precision reached at that recall or beyond, 0 past the
/// largest recall reached. Its mean is the AP.
/// </summary>
public sealed record PrecisionRecallCurve(double[] Recall, double[] Precision)
{
    /// <summary>The mean precision over the recall points: the AP (for a class) or the mAP (for the mean curve).</summary>
    public double MeanPrecision() => Precision.Average();
}
