using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// At the end of a run, turns every network's final weights (RUN/models/ID.dat) into an exported model:
/// the TorchSharp file, a safetensors file and a JSON model card with the final test metrics (of either task).
/// </summary>
public static class RunExports
{
    public static IReadOnlyList<ExportResult> Write(CohortResult result, TrainingOptions training, DataOptions data, IReadOnlyList<string> classNames, ILogger logger)
    {
        var written = new List<ExportResult>();
        foreach (var e in result.Exports ?? [])
        {
            try
            {
                // The final test metrics of either task: the card keeps every column by name (and classification's named fields).
                var metrics = result.Final?.Models.FirstOrDefault(m => m.Id == e.Setup.Id)?.Metrics;
                var card = ModelCard.Create(e.Setup.Id, e.Setup.Role == ModelRole.Teacher ? "teacher" : "student", e.Setup.ModelName, e.Setup.Spec,
                    classNames, e.Setup.Normalization,
                    new TrainingSummary(data.Dataset, training.Mode.Name(), training.Epochs, result.Steps, training.Seed, e.Setup.Seed, training.BatchSize),
                    metrics);
                written.Add(ModelExporter.ExportBytes(File.ReadAllBytes(e.WeightsPath), card, Path.GetDirectoryName(e.WeightsPath)!, e.Setup.Id));
            }
            catch (Exception ex) when (ex is ModelExportException or IOException)
            {
                logger.LogError("Export of {Model} failed: {Message}", e.Setup.Id, ex.Message);
            }
        }
        if (written.Count > 0)
        {
            var students = written.Where(w => w.Card.Role == "student").Select(w => $"--model {w.CardPath}");
            logger.LogInformation("Exported {Count} models (TorchSharp .dat, .safetensors, model card .json) to {Directory}",
                written.Count, Path.GetDirectoryName(written[0].CardPath));
            logger.LogInformation("Evaluate the student ensemble again with: p2pdistill-coordinator evaluate {Models}", string.Join(" ", students));
        }
        return written;
    }
}
