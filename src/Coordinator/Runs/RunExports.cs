using Microsoft.Extensions.Logging;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Onnx;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// At the end of a run, turns every network's final weights (RUN/models/ID.dat) into an exported model:
/// the TorchSharp file, a safetensors file, an ONNX file and a JSON model card with the final test metrics (of either task);
/// and the students' ensemble into one ONNX graph (<see cref="WriteEnsemble"/>).
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

    /// <summary>
    /// The students' ensemble as one ONNX graph (the mean of their softmax, or of their probability maps), <c>models/ensemble.onnx</c>,
    /// when there are two students or more and each has an .onnx file; its path, or null. A failure is logged and leaves the
    /// other exports as they are.
    /// </summary>
    public static string? WriteEnsemble(IReadOnlyList<ExportResult> exports, ILogger logger)
    {
        var students = exports.Where(e => e.Card.Role == "student").ToList();
        if (students.Count < 2 || students.Any(s => s.OnnxPath is null)) return null;
        var path = Path.Combine(Path.GetDirectoryName(students[0].CardPath)!, ExportCommand.EnsembleFileName);
        var models = new List<ExportedModel>();
        try
        {
            foreach (var s in students) models.Add(ExportedModel.Load(s.CardPath));
            OnnxExporter.Write(OnnxExporter.BuildEnsemble(models.Select(m => (m.Network, m.Card)).ToList()), path);
            logger.LogInformation("Exported the ensemble of {Count} students as one ONNX graph: {Path} (p2pdistill-coordinator evaluate --model {Path} " +
                "scores it through ONNX Runtime)", students.Count, path, path);
            return path;
        }
        catch (Exception ex) when (ex is ModelExportException or IOException)
        {
            logger.LogError("Export of the student ensemble to ONNX failed: {Message}", ex.Message);
            return null;
        }
        finally
        {
            foreach (var m in models) m.Dispose();
        }
    }
}
