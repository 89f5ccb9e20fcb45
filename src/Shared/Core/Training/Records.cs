using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Metrics;

namespace P2PDistill.Shared.Training;

/// <summary>One model's share of a training step.</summary>
public sealed record ModelStepRecord(string Id, ModelRole Role, LossParts Loss, double BatchAccuracy, double LearningRate, double ComputeMs);

/// <summary>One training step of the whole cohort.</summary>
/// <param name="Seconds">Wall time of the step, end to end.</param>
/// <param name="BytesSent">Step-message bytes the coordinator sent this step (0 in one process).</param>
/// <param name="BytesReceived">Step-message bytes the coordinator received this step (0 in one process).</param>
public sealed record StepRecord(int Epoch, int Step, long GlobalStep, int StepsPerEpoch, int BatchSize, double Seconds, IReadOnlyList<ModelStepRecord> Models,
    long BytesSent = 0, long BytesReceived = 0)
{
    /// <summary>Wall time not spent in the slowest model's own compute: coordination, serialisation, transport.</summary>
    public double CoordinationMs => Math.Max(0, Seconds * 1000 - (Models.Count == 0 ? 0 : Models.Max(m => m.ComputeMs)));

    public double ImagesPerSecond => Seconds > 0 ? BatchSize / Seconds : 0;
}

/// <summary>One model's evaluation on the test split.</summary>
public sealed record ModelEvalRecord(string Id, ModelRole Role, IModelMetrics Metrics);

/// <summary>The evaluation at the end of an epoch: every model and the student ensemble (mean of softmax probabilities), on the test split.</summary>
public sealed record EvalRecord(int Epoch, long GlobalStep, IReadOnlyList<ModelEvalRecord> Models, IModelMetrics? StudentEnsemble)
{
    /// <summary>The same evaluation on the validation split, when the data set has one (MedMNIST); it picks the best epoch.</summary>
    public EvalRecord? Val { get; init; }

    /// <summary>
    /// How good this evaluation is on its split, to pick the best epoch: the student ensemble's <see cref="IModelMetrics.Score"/>
    /// (ROC-AUC for two classes, else accuracy; mAP@0.5:0.95 for detection), the teacher's when there are no students.
    /// </summary>
    public double Score
    {
        get
        {
            var m = StudentEnsemble ?? Models.FirstOrDefault()?.Metrics;
            return m is null ? double.NaN : m.Score;
        }
    }
}

/// <summary>Watches training without touching the loop (metrics files, progress, logs).</summary>
public interface ITrainingObserver
{
    void OnStep(StepRecord step) { }
    void OnEvaluation(EvalRecord evaluation) { }
}

public static class Evaluation
{
    /// <summary>Metrics of every model from its test-set probabilities, and of the students' ensemble.</summary>
    public static EvalRecord Combine(int epoch, long globalStep, IReadOnlyList<(string Id, ModelRole Role, float[] Probabilities)> models, int[] labels, int numClasses)
    {
        var records = models.Select(m => new ModelEvalRecord(m.Id, m.Role, MetricsCalculator.Compute(m.Probabilities, numClasses, labels))).ToList();
        var students = models.Where(m => m.Role == ModelRole.Student).Select(m => m.Probabilities).ToList();
        var ensemble = students.Count == 0 ? null : MetricsCalculator.Compute(Ensemble.MeanProbabilities(students), numClasses, labels);
        return new EvalRecord(epoch, globalStep, records, ensemble);
    }
}
