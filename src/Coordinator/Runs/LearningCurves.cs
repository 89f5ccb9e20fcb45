using P2PDistill.Shared.Training;
using ScottPlot;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// PNG learning curves in <c>RUN/plots/</c>: training loss per model against the step (a moving average
/// over a window, the raw values faint behind it), and the task's headline test metric per model and for the student
/// ensemble against the epoch, in a file named after the metric's eval.csv column (<c>accuracy.png</c> for classification,
/// <c>map50.png</c> for detection). Redrawn after every evaluation, so they are current even if a run stops early.
/// </summary>
public sealed class LearningCurves(string runDirectory, int window = 20) : ITrainingObserver
{
    private readonly Dictionary<string, List<(double Step, double Loss)>> losses = [];
    private readonly Dictionary<string, List<(double Epoch, double Accuracy)>> accuracy = [];
    private readonly object gate = new();

    public string LossPath => Path.Combine(runDirectory, "plots", "loss.png");
    private (string Column, string Title) headline = ("accuracy", "accuracy");

    /// <summary>The headline curve's file: <c>plots/COLUMN.png</c>, COLUMN the headline's eval.csv column (known after the first evaluation).</summary>
    public string AccuracyPath => Path.Combine(runDirectory, "plots", headline.Column + ".png");

    /// <summary>
    /// Resume: starts the curves from what the interrupted run recorded before its checkpoint (losses from steps.csv, the test
    /// split's headline from eval.csv), so that they cover every step and epoch from the first. The headline's title is its
    /// column's name until the resumed run's first evaluation names it.
    /// </summary>
    public void Load(RunHistory history)
    {
        lock (gate)
        {
            foreach (var (step, model, loss) in history.Losses)
            {
                if (!losses.TryGetValue(model, out var list)) losses[model] = list = [];
                list.Add((step, loss));
            }
            if (history.MetricColumns is not [var column, ..]) return;
            headline = (column, column);
            foreach (var e in history.Evaluations.Where(e => e.Split == "test"))
                Add(e.Model, e.Epoch, e.Values.GetValueOrDefault(column) ?? double.NaN);
        }
    }

    /// <summary>The training loss curve of each model: (global step, loss), as drawn.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(double Step, double Loss)>> Losses
    {
        get { lock (gate) return losses.ToDictionary(p => p.Key, p => (IReadOnlyList<(double, double)>)[.. p.Value]); }
    }

    /// <summary>The headline curve of each model and the student ensemble: (epoch from 1, test headline), as drawn.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(double Epoch, double Value)>> Headlines
    {
        get { lock (gate) return accuracy.ToDictionary(p => p.Key, p => (IReadOnlyList<(double, double)>)[.. p.Value]); }
    }

    public void OnStep(StepRecord step)
    {
        lock (gate)
        {
            foreach (var m in step.Models)
            {
                if (!losses.TryGetValue(m.Id, out var list)) losses[m.Id] = list = [];
                list.Add((step.GlobalStep, m.Loss.Total));
            }
        }
    }

    public void OnEvaluation(EvalRecord evaluation)
    {
        lock (gate)
        {
            if (evaluation.Models.Count > 0 && evaluation.Models[0].Metrics.Columns is [var first, ..])
                headline = (first.Name, evaluation.Models[0].Metrics.HeadlineName);
            foreach (var m in evaluation.Models) Add(m.Id, evaluation.Epoch + 1, m.Metrics.Headline);
            if (evaluation.StudentEnsemble is not null) Add("student-ensemble", evaluation.Epoch + 1, evaluation.StudentEnsemble.Headline);
            Draw();
        }
    }

    /// <summary>Writes both PNGs now.</summary>
    public void Draw()
    {
        lock (gate)
        {
            Directory.CreateDirectory(Path.Combine(runDirectory, "plots"));
            DrawLoss();
            DrawAccuracy();
        }
    }

    private void Add(string id, double epoch, double value)
    {
        if (!accuracy.TryGetValue(id, out var list)) accuracy[id] = list = [];
        list.Add((epoch, value));
    }

    private void DrawLoss()
    {
        var plot = new Plot();
        int colour = 0;
        foreach (var (id, points) in losses.OrderBy(p => Order(p.Key)))
        {
            var color = plot.Add.Palette.GetColor(colour++);
            var xs = points.Select(p => p.Step).ToArray();
            var raw = plot.Add.ScatterLine(xs, points.Select(p => p.Loss).ToArray());
            raw.Color = color.WithAlpha(0.2);
            var smooth = plot.Add.ScatterLine(xs, MovingAverage(points.Select(p => p.Loss).ToArray(), window));
            smooth.Color = color;
            smooth.LineWidth = 2;
            smooth.LegendText = id;
        }
        plot.Title("Training loss (CE + KD + ML per model)");
        plot.XLabel("step");
        plot.YLabel($"loss (moving average of {window})");
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, LossPath);
    }

    private void DrawAccuracy()
    {
        var plot = new Plot();
        int colour = 0;
        foreach (var (id, points) in accuracy.OrderBy(p => Order(p.Key)))
        {
            var line = plot.Add.Scatter(points.Select(p => p.Epoch).ToArray(), points.Select(p => p.Accuracy).ToArray());
            line.Color = plot.Add.Palette.GetColor(colour++);
            line.LegendText = id;
            line.LineWidth = id == "student-ensemble" ? 3 : 1.5f;
            line.MarkerSize = 7;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.Title($"Test {headline.Title}");
        plot.XLabel("epoch");
        plot.YLabel(headline.Title);
        plot.ShowLegend(Alignment.LowerRight);
        Save(plot, AccuracyPath);
    }

    private static void Save(Plot plot, string path) =>
        P2PDistill.Shared.Training.AtomicFile.Write(path, tmp => plot.GetImage(900, 560).SavePng(tmp));

    private static int Order(string id) => id == "teacher" ? 0 : id == "student-ensemble" ? int.MaxValue : 1;

    /// <summary>Trailing moving average; the first points average what there is.</summary>
    public static double[] MovingAverage(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }
}
