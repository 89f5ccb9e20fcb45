using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Tasks;

/// <summary>One label per image; logits [N, C]; CE + KD + ML on softmax distributions (DESIGN.md §1); accuracy, F1, ROC-AUC.</summary>
public sealed class ClassificationTask(int classes) : ITrainingTask
{
    public TaskKind Kind => TaskKind.Classification;

    public int OutputsPerImage => classes;

    public ImageBatch Batch(IImageDataset split, ReadOnlySpan<int> indices, AugmentOptions augment, int seed, int epoch, int step) =>
        BatchBuilder.Build(split, indices, augment, seed, epoch, step);

    public IReadOnlyList<string> MetricColumns { get; } = ["accuracy", "macro_f1", "nll", "auc", "sensitivity", "specificity"];

    /// <summary>With two classes, ROC-AUC, sensitivity and specificity defined (the table shows them; ROC-AUC is the score).</summary>
    public Metrics.IModelMetrics MetricsLayout(int images)
    {
        double? binary = classes == 2 ? 0 : null;
        return new Metrics.ClassificationMetrics(0, 0, [], [], [], [], images, classes, 0, binary, binary, binary);
    }

    public LossTensors TeacherLoss(Tensor output, ImageBatch batch) => DistillLoss.Teacher(output, Labels(batch));

    public LossTensors StudentLoss(Tensor output, ImageBatch batch, DistillationSettings settings, DistillTargets targets)
    {
        long n = output.shape[0];
        var teacher = targets.TeacherLogits is null ? null : Checked(targets.TeacherLogits, [n, classes], "teacher logits");
        var s = targets.PeerProbSum is null ? null : Checked(targets.PeerProbSum, [n, classes], "peer probability sum");
        var h = targets.PeerNegEntropySum is null ? null : Checked(targets.PeerNegEntropySum, [n], "peer entropy sum");
        return DistillLoss.Student(output, Labels(batch), settings, teacher, s, h, targets.Peers);
    }

    public double BatchScore(Tensor output, ImageBatch batch) =>
        output.argmax(1).eq(Labels(batch)).to_type(ScalarType.Float64).mean().ToDouble();

    public DistillTargets[] Targets(float[]? teacherOutput, IReadOnlyList<float[]> studentOutputs, int batch, DistillationSettings settings) =>
        TargetBuilder.Build(teacherOutput, studentOutputs, batch, classes, settings);

    public long? BoxFloatsBound(IImageDataset split, int batch) => null;

    /// <summary>The teacher's logits [B, C], the peers' probability sums [B, C] and negative entropy sums [B].</summary>
    public long TargetFloatsBound(int batch) => (long)batch * (2L * classes + 1);

    public float[] Predictions(Tensor output) => nn.functional.softmax(output, 1).data<float>().ToArray();

    public EvalRecord Evaluate(int epoch, long globalStep, IReadOnlyList<(string Id, ModelRole Role, float[] Predictions)> models, IImageDataset split)
    {
        var labels = new int[split.Count];
        for (int i = 0; i < labels.Length; i++) labels[i] = split.Label(i);
        return Evaluation.Combine(epoch, globalStep, models, labels, classes);
    }

    /// <summary>The batch's labels, each checked to lie in [0, classes): a label from the wire is never trusted.</summary>
    private Tensor Labels(ImageBatch batch)
    {
        for (int i = 0; i < batch.Labels.Length; i++)
            if ((uint)batch.Labels[i] >= (uint)classes)
                throw new ArgumentException($"label {batch.Labels[i]} of image {i} is outside the {classes} classes [0, {classes - 1}]");
        return BatchTensors.Labels(batch);
    }

    private static Tensor Checked(float[] values, long[] shape, string what)
    {
        long expected = shape.Aggregate(1L, (a, b) => a * b);
        if (values.Length != expected)
            throw new ArgumentException($"{what} hold {values.Length} values, expected {string.Join("x", shape)}");
        return tensor(values, shape);
    }
}
