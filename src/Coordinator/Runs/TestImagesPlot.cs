using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection.Drawing;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Training;
using SkiaSharp;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// <c>RUN/plots/&lt;task's file&gt;</c> at the end of a run whose task draws one (<see cref="IPredictionReadout.TestImagesFileName"/>:
/// detection's <c>plots/detections.png</c>; classification draws none): the first <see cref="Images"/> test images, one row
/// each, in columns ground truth | teacher | first student | student ensemble (the mean of every student's predictions). The
/// predictions come from the models just exported, loaded back from their cards, so the picture shows what
/// <c>predict</c> and <c>evaluate</c> give. A failure is logged and never fails the run.
/// </summary>
public static class TestImagesPlot
{
    /// <summary>Test images drawn, at most.</summary>
    public const int Images = 6;

    /// <summary>Cells are enlarged by whole pixels to about this side.</summary>
    private const int CellSide = 256;

    /// <summary>Draws the picture; returns its path, or null when the task draws none or nothing could be drawn (logged).</summary>
    public static string? Draw(string runDirectory, TrainingPlan plan, IReadOnlyList<ExportResult> exports, ILogger logger)
    {
        try
        {
            var readout = PredictionReadouts.For(plan.Task.Kind, plan.Spec, plan.Splits.ClassNames);
            if (readout.TestImagesFileName is not { } name) return null;
            var test = plan.Splits.Test;
            var teacherCard = exports.FirstOrDefault(e => e.Card.Role == "teacher");
            var studentCards = exports.Where(e => e.Card.Role == "student").ToList();
            if (test.Count == 0 || (teacherCard is null && studentCards.Count == 0))
            {
                logger.LogWarning("No {Name} drawn: {Why}", name, test.Count == 0 ? "the test split is empty" : "no model was exported");
                return null;
            }
            var path = Path.Combine(runDirectory, "plots", name);
            using (var picture = Picture(readout, test, teacherCard, studentCards))
                BoxPainter.SavePng(picture, path);
            logger.LogInformation("Drew the first {Count} test images with their ground truth and predictions: {Path}", Math.Min(Images, test.Count), path);
            return path;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Could not draw the test images with their predictions in {Run}: {Message}", runDirectory, e.Message);
            return null;
        }
    }

    private static SKBitmap Picture(IPredictionReadout readout, IImageDataset test, ExportResult? teacherCard, IReadOnlyList<ExportResult> studentCards)
    {
        var indices = Enumerable.Range(0, Math.Min(Images, test.Count)).ToArray();
        var batch = BatchBuilder.Build(test, indices);
        var columns = new List<(string Title, float[] Predictions)>();
        if (teacherCard is not null)
            columns.Add(Column(teacherCard, batch, models => $"teacher ({models[0].Card.Architecture})"));
        if (studentCards.Count > 0)
        {
            columns.Add(Column(studentCards[0], batch, models => $"{models[0].Card.ModelId} ({models[0].Card.Architecture})"));
            if (studentCards.Count > 1)
                columns.Add(Column(studentCards, batch, models => $"student ensemble ({models.Count})"));
        }

        int scale = Math.Max(1, CellSide / Math.Max(test.Shape.Height, test.Shape.Width));
        int outputs = columns[0].Predictions.Length / indices.Length;
        var cells = new List<SKBitmap>();
        try
        {
            var rows = new List<IReadOnlyList<SKBitmap?>>();
            foreach (var i in indices)
            {
                var row = new List<SKBitmap?> { Keep(cells, readout.DrawTruth(test, i, scale)) };
                foreach (var (_, predictions) in columns)
                    row.Add(Keep(cells, readout.DrawPrediction(test, i, predictions.AsSpan(i * outputs, outputs), scale)));
                rows.Add(row);
            }
            return ImagePanel.Compose(["ground truth", .. columns.Select(c => c.Title)], rows,
                indices.Select(i => $"test {i}").ToList(), $"{test.Name}: the first {indices.Length} test images");
        }
        finally
        {
            foreach (var cell in cells) cell.Dispose();
        }
    }

    private static SKBitmap Keep(List<SKBitmap> cells, SKBitmap cell)
    {
        cells.Add(cell);
        return cell;
    }

    private static (string, float[]) Column(ExportResult card, ImageBatch batch, Func<IReadOnlyList<ExportedModel>, string> title) =>
        Column([card], batch, title);

    /// <summary>The mean of the predictions of the models of <paramref name="cards"/> (loaded from their exports) for <paramref name="batch"/>.</summary>
    private static (string, float[]) Column(IReadOnlyList<ExportResult> cards, ImageBatch batch, Func<IReadOnlyList<ExportedModel>, string> title)
    {
        var models = new List<ExportedModel>();
        try
        {
            foreach (var card in cards) models.Add(ExportedModel.Load(card.CardPath));
            return (title(models), Ensemble.MeanProbabilities(models.Select(m => m.Predict(batch)).ToList()));
        }
        finally
        {
            foreach (var m in models) m.Dispose();
        }
    }
}
