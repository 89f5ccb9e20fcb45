using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Tasks;

/// <summary>
/// What differs between the tasks a cohort can learn (docs/design/detection.md §5): classification and detection are two
/// implementations. The trainers, the coordinator and the model actors call the task and never ask which task it is.
/// A task is immutable and thread-safe; its tensor methods must run inside the caller's dispose scope.
/// </summary>
public interface ITrainingTask
{
    TaskKind Kind { get; }

    /// <summary>Floats a model outputs per image (classification: C logits; detection: L·(C + 4B) map values).</summary>
    int OutputsPerImage { get; }

    /// <summary>
    /// The batch of <paramref name="indices"/> of <paramref name="split"/>, image i augmented by (seed, epoch, step, i): pixels and
    /// labels, and for detection the boxes, moved with the pixels. Pure: the same arguments give the same batch on every node.
    /// </summary>
    ImageBatch Batch(IImageDataset split, ReadOnlySpan<int> indices, AugmentOptions augment, int seed, int epoch, int step);

    /// <summary>The names of the metric columns its evaluations write (eval.csv after epoch, global_step, model, role).</summary>
    IReadOnlyList<string> MetricColumns { get; }

    /// <summary>
    /// Metrics of <paramref name="images"/> images laid out as this task's evaluations lay out theirs (column names, titles,
    /// formats, the summary's table, the score), every value 0 or undefined: the layout of metrics read back from eval.csv when
    /// no live evaluation gives one.
    /// </summary>
    Metrics.IModelMetrics MetricsLayout(int images);

    /// <summary>The teacher's loss: the task loss alone (it trains online on the labels).</summary>
    LossTensors TeacherLoss(Tensor output, ImageBatch batch);

    /// <summary>A student's loss: task loss + alpha·KD + beta·ML from <paramref name="targets"/> (DESIGN.md §1).</summary>
    LossTensors StudentLoss(Tensor output, ImageBatch batch, DistillationSettings settings, DistillTargets targets);

    /// <summary>A number for the progress lines and step metrics: batch accuracy (classification), mean IoU at positive locations (detection).</summary>
    double BatchScore(Tensor output, ImageBatch batch);

    /// <summary>Every student's KD and ML inputs from the step's outputs (row-major, as they cross the wire), in cohort order.</summary>
    DistillTargets[] Targets(float[]? teacherOutput, IReadOnlyList<float[]> studentOutputs, int batch, DistillationSettings settings);

    /// <summary>What evaluation collects per image, from the model's output in evaluation mode (probabilities), row-major.</summary>
    float[] Predictions(Tensor output);

    /// <summary>
    /// Sizing the remoting frame: the most floats <see cref="ImageBatch.Boxes"/> can hold in a batch of at most
    /// <paramref name="batch"/> images of <paramref name="split"/> (augmentation only drops boxes); null when this task's batches carry none.
    /// </summary>
    long? BoxFloatsBound(IImageDataset split, int batch);

    /// <summary>Sizing the remoting frame: the most floats one student's <see cref="DistillTargets"/> hold for a batch of <paramref name="batch"/> images.</summary>
    long TargetFloatsBound(int batch);

    /// <summary>Every model's metrics on <paramref name="split"/> from its predictions over it (in order), and the student ensemble's.</summary>
    EvalRecord Evaluate(int epoch, long globalStep, IReadOnlyList<(string Id, ModelRole Role, float[] Predictions)> models, IImageDataset split);
}

/// <summary>The task of a run, built once from its kind and the models' spec.</summary>
public static class TrainingTasks
{
    /// <param name="classNames">The data set's class names, for per-class metrics (default class0, class1, ...).</param>
    public static ITrainingTask For(TaskKind kind, ModelSpec spec, IReadOnlyList<string>? classNames = null) => kind switch
    {
        TaskKind.Classification => new ClassificationTask(spec.NumClasses),
        TaskKind.Detection => new DetectionTask(new Detection.DetectionLayout(spec.NumClasses, spec.Height, spec.Width), classNames),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no such task"),
    };
}
