using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Training;
using ScottPlot;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// <c>RUN/plots/pr.png</c> for a detection run: the test precision–recall curve at IoU 0.5 (the mean over classes at COCO's
/// 101 recall points) of the teacher, each student and the student ensemble at the final evaluation, mAP@0.5 in the legend.
/// </summary>
public static class PrecisionRecallPlot
{
    public static string PathIn(string runDirectory) => System.IO.Path.Combine(runDirectory, "plots", "pr.png");

    /// <summary>Draws the curves of <paramref name="evaluation"/>; false (nothing drawn) when it has none (not detection, or no ground truth).</summary>
    public static bool Draw(string runDirectory, EvalRecord evaluation)
    {
        var curves = evaluation.Models.Select(m => (m.Id, Metrics: m.Metrics as DetectionMetrics))
            .Concat(evaluation.StudentEnsemble is null ? [] : [("student-ensemble", evaluation.StudentEnsemble as DetectionMetrics)])
            .Where(c => c.Metrics?.Curve50 is not null).Select(c => (c.Id, Metrics: c.Metrics!)).ToList();
        if (curves.Count == 0) return false;
        var plot = new Plot();
        foreach (var (id, m) in curves)
        {
            var line = plot.Add.ScatterLine(m.Curve50!.Recall, m.Curve50.Precision);
            line.LegendText = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{id} (mAP@0.5 {m.MapAt50:F3})");
            line.LineWidth = id == "student-ensemble" ? 3 : 1.5f;
            line.MarkerSize = 0;
        }
        plot.Title($"Precision-recall at IoU 0.5 on the test split, epoch {evaluation.Epoch + 1}");
        plot.XLabel("recall");
        plot.YLabel("precision (interpolated, mean over classes)");
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.ShowLegend(Alignment.LowerLeft);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(PathIn(runDirectory))!);
        plot.SavePng(PathIn(runDirectory), 640, 560);
        return true;
    }
}
