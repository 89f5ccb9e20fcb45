using System.Globalization;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Training;
using ScottPlot;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// <c>RUN/plots/roc.png</c> for a two-class run: the test ROC curve of the teacher, each student and the student ensemble at
/// the final evaluation, with each AUC in the legend and the chance diagonal.
/// </summary>
public static class RocPlot
{
    public static string PathIn(string runDirectory) => System.IO.Path.Combine(runDirectory, "plots", "roc.png");

    /// <summary>Draws the curves of <paramref name="evaluation"/>; false (nothing drawn) when it has no ROC curve (not two classes).</summary>
    public static bool Draw(string runDirectory, EvalRecord evaluation) =>
        FinalCurvePlot.Draw<ClassificationMetrics>(PathIn(runDirectory), evaluation,
            m => m.Roc is { } roc ? (roc.FalsePositiveRate, roc.TruePositiveRate) : null,
            (id, m) => string.Create(CultureInfo.InvariantCulture, $"{id} (AUC {m.RocAuc:F3})"),
            plot =>
            {
                var chance = plot.Add.Line(0, 0, 1, 1);
                chance.LinePattern = LinePattern.Dashed;
                chance.Color = Colors.Gray;
                plot.Title($"ROC on the test split, epoch {evaluation.Epoch + 1}");
                plot.XLabel("false-positive rate (1 - specificity)");
                plot.YLabel("true-positive rate (sensitivity)");
                plot.Axes.SetLimits(0, 1, 0, 1);
                plot.ShowLegend(Alignment.LowerRight);
            });
}
