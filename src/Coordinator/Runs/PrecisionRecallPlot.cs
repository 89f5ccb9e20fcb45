using System.Globalization;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Training;
using ScottPlot;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// <c>RUN/plots/pr.png</c> for a detection run: the test precision–recall curve at IoU 0.5 (the mean over classes at COCO's
/// 101 recall points) of the teacher, each student and the student ensemble at the final evaluation, mAP@0.5 in the legend.
/// The legend sits in the lower left, which a precision–recall curve (never increasing) leaves empty unless its precision is low throughout.
/// </summary>
public static class PrecisionRecallPlot
{
    public static string PathIn(string runDirectory) => System.IO.Path.Combine(runDirectory, "plots", "pr.png");

    /// <summary>Draws the curves of <paramref name="evaluation"/>; false (nothing drawn) when it has none (not detection, or no ground truth).</summary>
    public static bool Draw(string runDirectory, EvalRecord evaluation) =>
        FinalCurvePlot.Draw<DetectionMetrics>(PathIn(runDirectory), evaluation,
            m => m.Curve50 is { } pr ? (pr.Recall, pr.Precision) : null,
            (id, m) => string.Create(CultureInfo.InvariantCulture, $"{id} (mAP@0.5 {m.MapAt50:F3})"),
            plot =>
            {
                plot.Title($"Precision-recall at IoU 0.5 on the test split, epoch {evaluation.Epoch + 1}");
                plot.XLabel("recall");
                plot.YLabel("precision (interpolated, mean over classes)");
                plot.Axes.SetLimits(0, 1, 0, 1.02);
                plot.ShowLegend(Alignment.LowerLeft);
            });
}
