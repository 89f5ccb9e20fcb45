using System.Globalization;
using P2PDistill.Shared.Training;
using ScottPlot;

namespace P2PDistill.Coordinator.Experiments;

/// <summary>
/// The experiment's PNGs, in the task's headline (<see cref="ExperimentMetrics"/>: accuracy; mAP@0.5): per (students,
/// temperature) a bar chart per mode (teacher, student mean, student ensemble; error bars are the seed-to-seed sample std),
/// <c>plots/HEADLINE-sN-TT.png</c>, and with several temperatures the sweep (student ensemble against T, one line per mode).
/// </summary>
public static class ExperimentPlots
{
    /// <summary>Draws every plot into <paramref name="directory"/>; returns the files written.</summary>
    public static IReadOnlyList<string> Draw(string directory, IReadOnlyList<ExperimentGroup> groups)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        foreach (var g in groups.Where(g => g.Modes.Count > 0))
        {
            var path = Path.Combine(directory, FileName(g));
            Save(Bars(g), path);
            written.Add(path);
        }
        foreach (var bySize in groups.GroupBy(g => g.Students).Where(s => s.Count() > 1))
        {
            var path = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"temperature-sweep-s{bySize.Key}.png"));
            Save(Sweep(bySize.Key, bySize.ToList()), path);
            written.Add(path);
        }
        return written;
    }

    /// <summary>The bar chart's file name in plots/, e.g. <c>accuracy-s2-T1.png</c> or <c>map50-s2-T1.png</c>.</summary>
    public static string FileName(ExperimentGroup g) =>
        string.Create(CultureInfo.InvariantCulture, $"{g.Metrics.Headline}-s{g.Students}-T{g.Temperature:R}.png");

    private static Plot Bars(ExperimentGroup g)
    {
        var plot = new Plot();
        var series = new (string Name, Func<ModeSummary, MeanStd> Pick)[]
        {
            ("teacher", m => m.Teacher), ("student mean", m => m.StudentMean), ("student ensemble", m => m.Ensemble),
        };
        var bars = new List<Bar>();
        double lowest = 1, highest = 0;
        for (int m = 0; m < g.Modes.Count; m++)
            for (int s = 0; s < series.Length; s++)
            {
                var v = series[s].Pick(g.Modes[m]);
                if (double.IsNaN(v.Mean)) continue;
                lowest = Math.Min(lowest, v.Mean - (double.IsNaN(v.Std) ? 0 : v.Std));
                highest = Math.Max(highest, v.Mean + (double.IsNaN(v.Std) ? 0 : v.Std));
                bars.Add(new Bar
                {
                    Position = m * (series.Length + 1) + s,
                    Value = v.Mean,
                    Error = double.IsNaN(v.Std) ? 0 : v.Std,
                    FillColor = plot.Add.Palette.GetColor(s),
                });
            }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(
            g.Modes.Select((_, m) => m * (series.Length + 1) + (series.Length - 1) / 2.0).ToArray(),
            g.Modes.Select(m => m.Mode).ToArray());
        plot.ShowLegend(series.Select((s, i) => new LegendItem { LabelText = s.Name, FillColor = plot.Add.Palette.GetColor(i) }), Alignment.UpperRight);
        // Modes differ in the second decimal: start the axis near the lowest bar, not at 0, and end it at 1 or, for low figures
        // (an mAP of 0.3), far enough above the highest bar to leave the legend a third of the height, not at 1.
        double bottom = Math.Max(0, Math.Floor((lowest - 0.02) * 50) / 50);
        double top = Math.Min(1, Math.Ceiling((highest + (highest - bottom) / 2 + 0.02) * 50) / 50);
        plot.Axes.SetLimitsY(bottom, Math.Max(top, bottom + 0.04));
        plot.Title($"Test {g.Metrics.HeadlineTitle}, {g.Title} (mean ± std over seeds)");
        plot.YLabel(g.Metrics.HeadlineTitle);
        return plot;
    }

    private static Plot Sweep(int students, IReadOnlyList<ExperimentGroup> groups)
    {
        var plot = new Plot();
        var modes = groups.SelectMany(g => g.Modes.Select(m => m.Mode)).Distinct().OrderBy(ExperimentReport.Rank).ToList();
        for (int i = 0; i < modes.Count; i++)
        {
            var points = groups.Select(g => (T: g.Temperature, S: g[modes[i]]?.Ensemble)).Where(p => p.S is not null).ToList();
            if (points.Count == 0) continue;
            var xs = points.Select(p => p.T).ToArray();
            var ys = points.Select(p => p.S!.Value.Mean).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.Color = plot.Add.Palette.GetColor(i);
            line.LegendText = modes[i];
            line.LineWidth = modes[i] == "kd-ml" ? 3 : 1.5f;
            line.MarkerSize = 7;
            var errors = points.Select(p => double.IsNaN(p.S!.Value.Std) ? 0 : p.S.Value.Std).ToArray();
            var bars = plot.Add.ErrorBar(xs, ys, errors);
            bars.Color = line.Color;
        }
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"Student ensemble against temperature, teacher + {students} students"));
        plot.XLabel("temperature T (KD and ML)");
        plot.YLabel($"test {groups[0].Metrics.HeadlineTitle}");
        plot.ShowLegend(Alignment.LowerLeft);
        return plot;
    }

    private static void Save(Plot plot, string path) => AtomicFile.Write(path, tmp => plot.GetImage(900, 560).SavePng(tmp));
}
