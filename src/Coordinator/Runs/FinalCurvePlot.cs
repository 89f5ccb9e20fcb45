using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Training;
using ScottPlot;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// What the final evaluation's curve plots (<see cref="RocPlot"/>, <see cref="PrecisionRecallPlot"/>) share: one line per
/// model whose metrics are a <typeparamref name="T"/> with a curve, then the student ensemble's, thicker; a 640×560 PNG.
/// </summary>
internal static class FinalCurvePlot
{
    /// <param name="curve">The model's curve (x, y), or null when it has none.</param>
    /// <param name="legend">The model's legend entry from its id and metrics.</param>
    /// <param name="decorate">Adds the title, axes, legend and any guide line (drawn before the curves).</param>
    /// <returns>False, and nothing written, when no model has a curve.</returns>
    public static bool Draw<T>(string path, EvalRecord evaluation, Func<T, (double[] X, double[] Y)?> curve, Func<string, T, string> legend,
        Action<Plot> decorate) where T : class, IModelMetrics
    {
        var lines = evaluation.Models.Select(m => (m.Id, Metrics: m.Metrics))
            .Concat(evaluation.StudentEnsemble is { } ensemble ? [("student-ensemble", ensemble)] : [])
            .Select(m => (m.Id, Metrics: m.Metrics as T))
            .Select(m => (m.Id, m.Metrics, Curve: m.Metrics is null ? null : curve(m.Metrics)))
            .Where(m => m.Curve is not null).ToList();
        if (lines.Count == 0) return false;
        var plot = new Plot();
        decorate(plot);
        foreach (var (id, metrics, xy) in lines)
        {
            var line = plot.Add.ScatterLine(xy!.Value.X, xy.Value.Y);
            line.LegendText = legend(id, metrics!);
            line.LineWidth = id == "student-ensemble" ? 3 : 1.5f;
            line.MarkerSize = 0;
        }
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        plot.SavePng(path, 640, 560);
        return true;
    }
}
