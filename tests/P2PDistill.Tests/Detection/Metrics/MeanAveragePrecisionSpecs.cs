using P2PDistill.Shared.Detection;

namespace P2PDistill.Tests.Detection.Metrics;

using Detection = P2PDistill.Shared.Detection.Detection;

/// <summary>
/// COCO mAP on cases computed by hand with pycocotools' rules: greedy matching by score, precision made monotone from
/// the right, sampled at the 101 recall points 0:0.01:1 (the first rank whose recall reaches the point; 0 past the
/// largest recall), averaged; precision = TP / (TP + FP + 2⁻⁵²), hence the 1e-12 tolerance.
/// </summary>
[Trait("Category", "Unit")]
public sealed class MeanAveragePrecisionSpecs
{
    private const double Tolerance = 1e-12;
    private static readonly string[] Names = ["sessile", "pedunculated"];

    private static Box G(float x1, float y1, float x2, float y2, int c = 0) => new(c, x1, y1, x2, y2);
    private static Detection D(float x1, float y1, float x2, float y2, float score, int c = 0) => new(new Box(c, x1, y1, x2, y2), score);

    // A ground truth and a detection far from every other box used below.
    private static readonly Box A = G(0, 0, 10, 10), B = G(20, 0, 30, 10), C = G(40, 0, 50, 10);
    private static Detection Hit(Box box, float score) => new(box, score);
    private static Detection Miss(float score, int c = 0) => D(100, 100, 110, 110, score, c);

    private static DetectionMetrics Score(IReadOnlyList<IReadOnlyList<Detection>> detections, IReadOnlyList<IReadOnlyList<Box>> truths, int maxPerImage = 100) =>
        MeanAveragePrecision.Compute(detections, truths, Names, maxPerImage);

    private static double Ap50(IReadOnlyList<Detection> detections, params Box[] truths) => Score([detections], [truths]).PerClass[0].Ap50!.Value;

    [Fact]
    public void Should_give_one_for_a_perfect_detection()
    {
        var metrics = Score([[Hit(A, 0.9f)]], [[A]]);

        Assert.Equal(1.0, metrics.MapAt50!.Value, Tolerance);
        Assert.Equal(1.0, metrics.Map50To95!.Value, Tolerance);
        Assert.Equal(1.0, metrics.PerClass[0].Ap50!.Value, Tolerance);
        Assert.Equal(1.0, metrics.PerClass[0].Ap50To95!.Value, Tolerance);
        Assert.Null(metrics.PerClass[1].Ap50);
        Assert.Equal((1, 1, 1), (metrics.Detections, metrics.GroundTruths, metrics.Images));
    }

    [Fact]
    public void Should_halve_the_ap_of_a_true_positive_ranked_below_a_false_positive()
    {
        // rc = [0, 1], pr = [0, ½] → monotone [½, ½]: every recall point reads ½.
        var metrics = Score([[Miss(0.9f), Hit(A, 0.8f)]], [[A]]);

        Assert.Equal(0.5, metrics.MapAt50!.Value, Tolerance);
        Assert.Equal(0.5, metrics.Map50To95!.Value, Tolerance);
    }

    [Fact]
    public void Should_interpolate_precision_from_the_right_at_101_recall_points()
    {
        // TP, FP, TP over 2 GT: rc = [½, ½, 1], pr = [1, ½, ⅔] → [1, ⅔, ⅔]; points 0..0.50 read 1, 0.51..1 read ⅔.
        Assert.Equal((51 + 50 * 2.0 / 3) / 101, Ap50([Hit(A, 0.9f), Miss(0.8f), Hit(B, 0.7f)], A, B), Tolerance);
        // TP, FP, FP, TP over 3 GT: rc = [⅓, ⅓, ⅓, ⅔], pr = [1, ½, ⅓, ½] → [1, ½, ½, ½]; 34 points read 1, 33 read ½, 34 read 0.
        Assert.Equal((34 + 33 * 0.5) / 101, Ap50([Hit(A, 0.9f), Miss(0.8f), Miss(0.7f), Hit(B, 0.6f)], A, B, C), Tolerance);
        // FP, TP, TP over 3 GT: pr → [⅔, ⅔, ⅔] up to recall ⅔ (points 0..0.66), then 0 beyond the largest recall.
        Assert.Equal(67 * (2.0 / 3) / 101, Ap50([Miss(0.9f), Hit(A, 0.8f), Hit(B, 0.7f)], A, B, C), Tolerance);
        // One of two GT found: recall ½ at most, so points 0.51..1 read 0.
        Assert.Equal(51.0 / 101, Ap50([Hit(A, 0.9f)], A, B), Tolerance);
    }

    [Fact]
    public void Should_expose_the_interpolated_curve_at_iou_one_half()
    {
        var metrics = Score([[Hit(A, 0.9f), Miss(0.8f), Miss(0.7f), Hit(B, 0.6f)]], [[A, B, C]]);

        var curve = metrics.PerClass[0].Curve50!;
        Assert.Equal(MeanAveragePrecision.RecallThresholds, curve.Recall);
        Assert.All(curve.Precision[..34], p => Assert.Equal(1.0, p, Tolerance));
        Assert.All(curve.Precision[34..67], p => Assert.Equal(0.5, p, Tolerance));
        Assert.All(curve.Precision[67..], p => Assert.Equal(0.0, p));
        Assert.Equal(metrics.PerClass[0].Ap50!.Value, curve.MeanPrecision(), Tolerance);
        Assert.Equal(curve.Precision, metrics.Curve50!.Precision);                  // one class with GT: the mean is its curve
        Assert.Null(metrics.PerClass[1].Curve50);
    }

    [Fact]
    public void Should_leave_a_class_without_ground_truth_out_of_the_mean()
    {
        var metrics = Score([[Hit(A, 0.9f), Miss(0.95f, c: 1)]], [[A]]);

        Assert.Equal(1.0, metrics.MapAt50!.Value, Tolerance);
        Assert.Equal(1.0, metrics.Map50To95!.Value, Tolerance);
        var absent = metrics.PerClass[1];
        Assert.Equal(new ClassAveragePrecision(1, "pedunculated", 0, 1, null, null, null), absent);
        Assert.Equal(2, metrics.Detections);
    }

    [Fact]
    public void Should_count_a_class_with_ground_truth_but_no_detection_as_zero()
    {
        var metrics = Score([[Hit(A, 0.9f)]], [[A, G(60, 60, 70, 70, c: 1)]]);

        Assert.Equal(0.0, metrics.PerClass[1].Ap50!.Value);
        Assert.Equal(0.5, metrics.MapAt50!.Value, Tolerance);
        Assert.Equal(0.5, metrics.Map50To95!.Value, Tolerance);
        Assert.All(metrics.PerClass[1].Curve50!.Precision, p => Assert.Equal(0.0, p));
    }

    [Theory]
    [InlineData(9.6f, 1.0)]    // IoU 0.96: a match at every threshold
    [InlineData(7.6f, 0.6)]    // IoU 0.76: at 0.50 .. 0.75
    [InlineData(5.8f, 0.2)]    // IoU 0.58: at 0.50 and 0.55
    [InlineData(5.2f, 0.1)]    // IoU 0.52: at 0.50 only
    [InlineData(5.0f, 0.1)]    // IoU exactly 0.50: a match needs IoU ≥ the threshold
    [InlineData(4.9f, 0.0)]    // IoU 0.49: never
    public void Should_match_at_the_thresholds_the_iou_reaches(float height, double expected)
    {
        var metrics = Score([[D(0, 0, 10, height, 0.9f)]], [[A]]);             // IoU = height / 10

        Assert.Equal(expected > 0 ? 1.0 : 0.0, metrics.MapAt50!.Value, Tolerance);
        Assert.Equal(expected, metrics.Map50To95!.Value, Tolerance);
    }

    [Fact]
    public void Should_count_a_duplicate_detection_as_a_false_positive()
    {
        // The second box on A finds A taken: TP, FP, TP over 2 GT, as in the interpolation case.
        Assert.Equal((51 + 50 * 2.0 / 3) / 101, Ap50([Hit(A, 0.9f), Hit(A, 0.8f), Hit(B, 0.7f)], A, B), Tolerance);
        // After the last GT is found, a duplicate lowers no interpolated precision.
        Assert.Equal(1.0, Ap50([Hit(A, 0.9f), Hit(A, 0.8f)], A), Tolerance);
    }

    [Fact]
    public void Should_match_each_detection_to_the_free_ground_truth_it_overlaps_most()
    {
        Box left = G(0, 0, 10, 10), right = G(4, 0, 14, 10);
        // The first detection overlaps right 9/11 and left 7/13: it takes right, and leaves left to the second,
        // whichever of them is listed first.
        Assert.Equal(1.0, Ap50([D(3, 0, 13, 10, 0.9f), Hit(left, 0.8f)], left, right), Tolerance);
        Assert.Equal(1.0, Ap50([D(3, 0, 13, 10, 0.9f), Hit(left, 0.8f)], right, left), Tolerance);

        // With right taken by a perfect box, the second falls back to left (IoU 7/13 ≈ 0.54): a match at 0.50 only.
        var metrics = Score([[Hit(right, 0.9f), D(3, 0, 13, 10, 0.8f)]], [[left, right]]);
        Assert.Equal(1.0, metrics.MapAt50!.Value, Tolerance);
        Assert.Equal((1 + 9 * (51.0 / 101)) / 10, metrics.Map50To95!.Value, Tolerance);   // above 0.50: TP, FP over 2 GT
    }

    [Fact]
    public void Should_rank_detections_on_images_without_ground_truth_as_false_positives()
    {
        Assert.Equal(0.5, Score([[Hit(A, 0.8f)], [Hit(A, 0.9f)]], [[A], []]).MapAt50!.Value, Tolerance);
        Assert.Equal(1.0, Score([[Hit(A, 0.8f)], [Hit(A, 0.7f)]], [[A], []]).MapAt50!.Value, Tolerance);
        Assert.Equal(2, Score([[Hit(A, 0.8f)], [Hit(A, 0.7f)]], [[A], []]).Images);
    }

    [Fact]
    public void Should_break_score_ties_by_image_then_rank_in_the_image()
    {
        Assert.Equal(0.5, Score([[Miss(0.8f)], [Hit(A, 0.8f)]], [[], [A]]).MapAt50!.Value, Tolerance);
        Assert.Equal(1.0, Score([[Hit(A, 0.8f)], [Miss(0.8f)]], [[A], []]).MapAt50!.Value, Tolerance);
        Assert.Equal(0.5, Ap50([Miss(0.8f), Hit(A, 0.8f)], A), Tolerance);
        Assert.Equal(1.0, Ap50([Hit(A, 0.8f), Miss(0.8f)], A), Tolerance);
    }

    [Fact]
    public void Should_keep_the_best_detections_of_each_class_per_image()
    {
        // FP, FP, TP over 1 GT: pr → ⅓ everywhere. With two per image the TP is dropped; class 1 does not use class 0's quota.
        Detection[] detections = [Hit(A, 0.7f), Miss(0.9f), Miss(0.8f), Miss(0.95f, c: 1), Miss(0.96f, c: 1)];

        Assert.Equal(1.0 / 3, Score([detections], [[A]]).MapAt50!.Value, Tolerance);
        var capped = Score([detections], [[A]], maxPerImage: 2);
        Assert.Equal(0.0, capped.MapAt50!.Value);
        Assert.Equal(4, capped.Detections);
        Assert.Equal(5, Score([detections], [[A]]).Detections);
    }

    [Fact]
    public void Should_average_classes_and_their_curves()
    {
        // Class 0 perfect (AP 1); class 1 FP then TP (AP ½).
        var metrics = Score(
            [[Hit(A, 0.9f), Miss(0.9f, c: 1)], [Hit(G(0, 0, 20, 20, c: 1), 0.5f)]],
            [[A], [G(0, 0, 20, 20, c: 1)]]);

        Assert.Equal(0.75, metrics.MapAt50!.Value, Tolerance);
        Assert.Equal(0.75, metrics.Map50To95!.Value, Tolerance);
        Assert.Equal(0.75, metrics.Curve50!.MeanPrecision(), Tolerance);
        Assert.All(metrics.Curve50.Precision, p => Assert.Equal(0.75, p, Tolerance));
        Assert.Equal(["sessile", "pedunculated"], metrics.PerClass.Select(c => c.Name));
        Assert.Equal([0, 1], metrics.PerClass.Select(c => c.Class));
        Assert.Equal([1, 1], metrics.PerClass.Select(c => c.GroundTruths));
        Assert.Equal([1, 2], metrics.PerClass.Select(c => c.Detections));
        Assert.Equal((3, 2, 2), (metrics.Detections, metrics.GroundTruths, metrics.Images));
    }

    [Fact]
    public void Should_agree_with_the_101_point_definition_on_random_rankings()
    {
        // Each detection is either exactly a distinct ground truth (TP) or far from all (FP), so its status is known; the
        // AP must be the mean over r of the best precision at any rank whose recall is ≥ r (0 if none), scores tied often.
        var random = new Random(13);
        for (int trial = 0; trial < 50; trial++)
        {
            int images = random.Next(1, 5);
            var truths = new List<IReadOnlyList<Box>>();
            var detections = new List<IReadOnlyList<Detection>>();
            var ranked = new List<(float Score, int Image, int Rank, bool True)>();
            for (int i = 0; i < images; i++)
            {
                int gts = random.Next(0, 5);
                var boxes = Enumerable.Range(0, gts).Select(g => G(20 * g, 0, 20 * g + 10, 10)).ToList();
                var found = boxes.Where(_ => random.Next(3) > 0).ToList();
                var list = found.Select(b => Hit(b, random.Next(1, 6) / 5f))
                    .Concat(Enumerable.Range(0, random.Next(0, 4)).Select(_ => Miss(random.Next(1, 6) / 5f)))
                    .OrderBy(_ => random.Next()).ToList();
                var inImage = Enumerable.Range(0, list.Count).OrderByDescending(j => list[j].Score).ToList();
                for (int r = 0; r < inImage.Count; r++)
                    ranked.Add((list[inImage[r]].Score, i, r, list[inImage[r]].Box.X1 < 100));
                truths.Add(boxes);
                detections.Add(list);
            }
            int total = truths.Sum(t => t.Count);
            if (total == 0) continue;

            var order = ranked.OrderByDescending(d => d.Score).ThenBy(d => d.Image).ThenBy(d => d.Rank).ToList();
            var recall = new double[order.Count];
            var precision = new double[order.Count];
            for (int n = 0, tp = 0; n < order.Count; n++)
            {
                if (order[n].True) tp++;
                recall[n] = (double)tp / total;
                precision[n] = tp / (n + 1.0);
            }
            double expected = MeanAveragePrecision.RecallThresholds
                .Average(r => Enumerable.Range(0, order.Count).Where(n => recall[n] >= r).Select(n => precision[n]).DefaultIfEmpty(0).Max());

            var metrics = Score(detections, truths);
            Assert.Equal(expected, metrics.MapAt50!.Value, 1e-9);
            Assert.Equal(expected, metrics.Map50To95!.Value, 1e-9);
        }
    }

    [Fact]
    public void Should_have_pycocotools_thresholds()
    {
        Assert.Equal([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95], MeanAveragePrecision.IouThresholds);
        Assert.Equal(101, MeanAveragePrecision.RecallThresholds.Count);
        Assert.Equal(0.0, MeanAveragePrecision.RecallThresholds[0]);
        Assert.Equal(0.35000000000000003, MeanAveragePrecision.RecallThresholds[35]);   // 35 · 0.01, as numpy's linspace
        Assert.Equal(1.0, MeanAveragePrecision.RecallThresholds[100]);
    }

    [Fact]
    public void Should_report_no_map_without_ground_truth()
    {
        var metrics = Score([[Hit(A, 0.9f)]], [[]]);

        Assert.Null(metrics.MapAt50);
        Assert.Null(metrics.Map50To95);
        Assert.Null(metrics.Curve50);
        Assert.Equal("map50=n/a map50_95=n/a dets=1 gt=0 images=1", metrics.ToString());
        Assert.False(metrics.ToDictionary().ContainsKey("map50"));
        Assert.Null(Score([], []).MapAt50);
    }

    [Fact]
    public void Should_summarise_in_one_line_and_a_dictionary()
    {
        var metrics = Score([[Miss(0.9f), Hit(A, 0.8f)]], [[A]]);

        Assert.Equal("map50=0.5000 map50_95=0.5000 dets=2 gt=1 images=1", metrics.ToString());
        var d = metrics.ToDictionary();
        Assert.Equal(["map50", "map50_95", "detections", "ground_truths", "images"], d.Keys);
        Assert.Equal(0.5, d["map50"], Tolerance);
        Assert.Equal(2.0, d["detections"]);
    }

    [Fact]
    public void Should_reject_mismatched_images_unknown_classes_and_bad_scores()
    {
        var images = Assert.Throws<ArgumentException>(() => Score([[], []], [[A]]));
        Assert.Contains("detections has 2 images but groundTruths has 1", images.Message);
        var truth = Assert.Throws<ArgumentException>(() => Score([[]], [[G(0, 0, 1, 1, c: 2)]]));
        Assert.Contains("groundTruths[0][0] has class 2, outside [0, 2)", truth.Message);
        var score = Assert.Throws<ArgumentException>(() => Score([[Hit(A, 0.5f), Hit(A, float.NaN)]], [[A]]));
        Assert.Contains("detections[0][1] has score NaN", score.Message);
        Assert.Throws<ArgumentException>(() => Score([[D(0, 0, float.PositiveInfinity, 1, 0.5f)]], [[A]]));
        Assert.Throws<ArgumentException>(() => MeanAveragePrecision.Compute([], [], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => Score([], [], maxPerImage: 0));
    }
}
