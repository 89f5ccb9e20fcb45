using P2PDistill.Shared.Training;
using TorchSharp;

namespace P2PDistill.Coordinator.Runs;

/// <summary>
/// TensorBoard event files in <c>RUN/tensorboard/</c> (TorchSharp's SummaryWriter): per model the loss and its
/// CE/KD/ML parts, batch accuracy and learning rate every step; step time and coordinator traffic; test
/// accuracy, macro-F1 and (two classes) ROC-AUC per model and for the student ensemble at every evaluation.
/// View with <c>tensorboard --logdir runs/</c>.
/// </summary>
public sealed class TensorBoardObserver(string runDirectory, int everySteps = 10) : ITrainingObserver
{
    private readonly TorchSharp.Modules.SummaryWriter writer = torch.utils.tensorboard.SummaryWriter(Folder(runDirectory), "", false);
    private readonly object gate = new();

    /// <summary>The folder of a run's event files.</summary>
    public static string Folder(string runDirectory) => Path.Combine(runDirectory, "tensorboard");

    /// <summary>
    /// Resume: drops every scalar written after <paramref name="step"/> from the run's event files (what the interrupted run wrote
    /// after its checkpoint, and a record torn by the kill), so that the resumed run's new event file carries those steps once.
    /// A TensorBoard reader merges every <c>events.out.tfevents.*</c> in the folder: each (tag, step) must be in one of them only.
    /// Each file is rewritten atomically, and only when something is dropped; temporary files a killed rewrite left are removed.
    /// </summary>
    public static void TruncateAfter(string runDirectory, long step)
    {
        var folder = Folder(runDirectory);
        if (!Directory.Exists(folder)) return;
        foreach (var tmp in Directory.EnumerateFiles(folder, ".events.out.tfevents.*.tmp", SearchOption.AllDirectories)) File.Delete(tmp);
        foreach (var path in Directory.EnumerateFiles(folder, "events.out.tfevents.*", SearchOption.AllDirectories))
        {
            var records = TensorBoardEventFile.ReadWhole(path, out bool intact);
            var kept = records.Where(r => r.Event.WhatCase != Tensorboard.Event.WhatOneofCase.Summary || r.Event.Step <= step).ToList();
            if (intact && kept.Count == records.Count) continue;
            P2PDistill.Shared.Training.AtomicFile.Write(path, tmp =>
            {
                using var file = File.Create(tmp);
                foreach (var r in kept) file.Write(r.Framed);
            });
        }
    }

    public void OnStep(StepRecord s)
    {
        if (s.GlobalStep % everySteps != 0 && s.Step + 1 != s.StepsPerEpoch) return;
        int step = (int)s.GlobalStep;
        lock (gate)
        {
            foreach (var m in s.Models)
            {
                writer.add_scalar($"{m.Id}/loss", (float)m.Loss.Total, step);
                writer.add_scalar($"{m.Id}/ce", (float)m.Loss.Ce, step);
                if (m.Role == ModelRole.Student)
                {
                    writer.add_scalar($"{m.Id}/kd", (float)m.Loss.Kd, step);
                    writer.add_scalar($"{m.Id}/ml", (float)m.Loss.Ml, step);
                }
                writer.add_scalar($"{m.Id}/batch_accuracy", (float)m.BatchAccuracy, step);
                writer.add_scalar($"{m.Id}/learning_rate", (float)m.LearningRate, step);
            }
            writer.add_scalar("step/seconds", (float)s.Seconds, step);
            if (s.BytesSent + s.BytesReceived > 0)
            {
                writer.add_scalar("step/coordination_ms", (float)s.CoordinationMs, step);
                writer.add_scalar("step/bytes_sent", s.BytesSent, step);
                writer.add_scalar("step/bytes_received", s.BytesReceived, step);
            }
        }
    }

    public void OnEvaluation(EvalRecord e)
    {
        int step = (int)e.GlobalStep;
        lock (gate)
        {
            foreach (var (id, metrics) in e.Models.Select(m => (m.Id, m.Metrics))
                         .Concat(e.StudentEnsemble is null ? [] : [("student-ensemble", e.StudentEnsemble)]))
            {
                foreach (var column in metrics.Columns)
                    if (column.Value is { } value && double.IsFinite(value) && column.Name != "nll")
                        writer.add_scalar($"test/{id}/{(column.Name == "auc" ? "roc_auc" : column.Name)}", (float)value, step);
            }
        }
    }
}
