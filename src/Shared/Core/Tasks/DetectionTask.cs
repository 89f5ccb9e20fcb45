using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Tasks;

/// <summary>
/// Boxes per image; a dense map [N, L, C + 4B] per model; GFL's task loss, KD and ML per location (docs/design/detection.md).
/// The distillation targets travel in classification's <see cref="DistillTargets"/>, each array shaped per location:
/// <see cref="DistillTargets.TeacherLogits"/> is the teacher's map [N, L, C + 4B];
/// <see cref="DistillTargets.PeerProbSum"/> is [N, L, C + 4B], the peers' weighted class sums A then side sums S, laid out
/// as a map row; <see cref="DistillTargets.PeerNegEntropySum"/> is [N, L, 3]: Wt, Hc, Hs.
/// </summary>
public sealed class DetectionTask : ITrainingTask
{
    private readonly IReadOnlyList<string> classNames;

    // A step asks for the batch's assignment twice (loss, then score) and an evaluation for the split's boxes every time:
    // both are pure functions of an object the caller keeps, so they are computed once per object (compared by reference).
    private readonly ConditionalWeakTable<ImageBatch, DetectionTargets> assignments = new();
    private readonly ConditionalWeakTable<IImageDataset, IReadOnlyList<IReadOnlyList<Box>>> groundTruths = new();

    public DetectionTask(DetectionLayout layout, IReadOnlyList<string>? classNames = null)
    {
        Layout = layout;
        this.classNames = classNames ?? Enumerable.Range(0, layout.Classes).Select(c => $"class{c}").ToArray();
    }

    public DetectionLayout Layout { get; }

    public TaskKind Kind => TaskKind.Detection;

    public int OutputsPerImage => Layout.ValuesPerImage;

    /// <summary>The per-location rows of <see cref="DistillTargets.PeerNegEntropySum"/>: Wt, Hc, Hs.</summary>
    public const int PeerScalars = 3;

    public ImageBatch Batch(IImageDataset split, ReadOnlySpan<int> indices, AugmentOptions augment, int seed, int epoch, int step)
    {
        var batch = split is IDetectionDataset detection
            ? DetectionBatchBuilder.Build(detection, indices, augment, seed, epoch, step)
            : throw new ArgumentException($"{split.Name} has no boxes: a detection run needs a detection data set", nameof(split));
        return batch.ToImageBatch() with { Boxes = BoxCodec.Encode(batch.Boxes) };
    }

    public IReadOnlyList<string> MetricColumns { get; } = ["map50", "map50_95", "detections", "ground_truths"];

    /// <summary>The table's AP@0.5 column of each class, undefined (eval.csv holds no per-class AP).</summary>
    public IModelMetrics MetricsLayout(int images) =>
        new DetectionMetrics(null, null, [.. classNames.Select((name, c) => new ClassAveragePrecision(c, name, 0, 0, null, null, null))], 0, 0, images, null);

    public LossTensors TeacherLoss(Tensor output, ImageBatch batch) => DetectionLoss.Teacher(output, Targets(output, batch), Layout);

    public LossTensors StudentLoss(Tensor output, ImageBatch batch, DistillationSettings settings, DistillTargets targets)
    {
        int n = (int)output.shape[0];
        long l = Layout.Locations, d = Layout.RowWidth;
        var teacher = targets.TeacherLogits is null ? null : Checked(targets.TeacherLogits, [n, l, d], "teacher map");
        DetectionPeerTensors? peers = null;
        if (targets.Peers > 0 && targets.PeerProbSum is { } sums && targets.PeerNegEntropySum is { } scalars)
        {
            var rows = Checked(sums, [n, l, d], "peer sums");
            var s = Checked(scalars, [n, l, PeerScalars], "peer weights and entropies");
            peers = new DetectionPeerTensors(
                rows[.., .., ..Layout.Classes], s[.., .., 0], s[.., .., 1],
                rows[.., .., Layout.Classes..].reshape(n, l, 4, Layout.Bins), s[.., .., 2], targets.Peers);
        }
        return DetectionLoss.Student(output, Targets(output, batch), Layout, settings, teacher, peers);
    }

    /// <summary>Mean IoU of the predicted boxes with their targets at the positive locations (0 when the batch has none).</summary>
    public double BatchScore(Tensor output, ImageBatch batch)
    {
        var targets = Targets(output, batch);
        if (targets.Positives == 0) return 0;
        var positive = targets.Classes.ge(0);
        var predicted = DetectionLoss.DecodeBoxes(output.detach(), Layout)[positive];
        return BoxGeometry.IoU(predicted, targets.Boxes[positive]).mean().ToDouble();
    }

    public DistillTargets[] Targets(float[]? teacherOutput, IReadOnlyList<float[]> studentOutputs, int batch, DistillationSettings settings)
    {
        int n = studentOutputs.Count;
        var teacher = settings.Mode.UsesTeacher() ? teacherOutput : null;
        var peers = settings.Mode.UsesPeers() && n > 1 ? DetectionPeerTargets.Build(studentOutputs, batch, Layout, settings.TemperatureMl) : null;
        var result = new DistillTargets[n];
        for (int i = 0; i < n; i++)
            result[i] = peers is null ? new DistillTargets(teacher, null, null, 0) : Pack(teacher, peers[i], batch);
        return result;
    }

    private DistillTargets Pack(float[]? teacher, DetectionPeerSums p, int batch)
    {
        int rows = batch * Layout.Locations, c = Layout.Classes, sides = 4 * Layout.Bins, d = Layout.RowWidth;
        var sums = new float[rows * d];
        var scalars = new float[rows * PeerScalars];
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < c; k++) sums[r * d + k] = (float)p.ClassProbSum[r * c + k];
            for (int k = 0; k < sides; k++) sums[r * d + c + k] = (float)p.SideProbSum[r * sides + k];
            scalars[r * PeerScalars] = (float)p.WeightSum[r];
            scalars[r * PeerScalars + 1] = (float)p.ClassNegEntropySum[r];
            scalars[r * PeerScalars + 2] = (float)p.SideNegEntropySum[r];
        }
        return new DistillTargets(teacher, sums, scalars, p.Peers);
    }

    /// <summary>Every image with as many boxes as the split's most crowded one: a count and 5 floats per box each.</summary>
    public long? BoxFloatsBound(IImageDataset split, int batch)
    {
        if (split is not IDetectionDataset detection)
            throw new ArgumentException($"{split.Name} has no boxes: a detection run needs a detection data set", nameof(split));
        int most = 0;
        for (int i = 0; i < detection.Count; i++) most = Math.Max(most, detection.Boxes(i).Count);
        return (long)batch * (1 + (long)BoxCodec.FloatsPerBox * most);
    }

    /// <summary>Per location: the teacher's map row and the peers' sums (D each), and <see cref="PeerScalars"/> scalars.</summary>
    public long TargetFloatsBound(int batch) => (long)batch * Layout.Locations * (2L * Layout.RowWidth + PeerScalars);

    /// <summary>The probability map (class sigmoids, side softmaxes): what the ensemble averages before decoding.</summary>
    public float[] Predictions(Tensor output) => DetectionEnsemble.ToProbabilities(output.data<float>().ToArray(), Layout);

    public EvalRecord Evaluate(int epoch, long globalStep, IReadOnlyList<(string Id, ModelRole Role, float[] Predictions)> models, IImageDataset split)
    {
        var truth = groundTruths.GetValue(split, GroundTruth);
        var records = models.Select(m => new ModelEvalRecord(m.Id, m.Role, Score(m.Predictions, truth))).ToList();
        var students = models.Where(m => m.Role == ModelRole.Student).Select(m => m.Predictions).ToList();
        var ensemble = students.Count == 0 ? null : Score(Ensemble.MeanProbabilities(students), truth);
        return new EvalRecord(epoch, globalStep, records, ensemble);
    }

    private DetectionMetrics Score(float[] probabilities, IReadOnlyList<IReadOnlyList<Box>> truth) =>
        MeanAveragePrecision.Compute(DetectionDecoder.DecodeProbabilitiesBatch(probabilities, Layout), truth, classNames);

    private static IReadOnlyList<IReadOnlyList<Box>> GroundTruth(IImageDataset split) => split is IDetectionDataset boxes
        ? Enumerable.Range(0, split.Count).Select(i => boxes.Boxes(i)).ToList()
        : throw new ArgumentException($"{split.Name} has no boxes: a detection run needs a detection data set", nameof(split));

    private DetectionTargetTensors Targets(Tensor output, ImageBatch batch) =>
        assignments.GetValue(batch, Assign).ToTensors(output.dtype, output.device);

    private DetectionTargets Assign(ImageBatch batch)
    {
        var boxes = batch.Boxes is { } encoded
            ? BoxCodec.Decode(encoded, batch.Count)
            : throw new ArgumentException($"a batch of {batch.Count} images without boxes reached a detector");
        return DetectionAssigner.Assign(Layout, boxes);
    }

    private static Tensor Checked(float[] values, long[] shape, string what)
    {
        long expected = shape.Aggregate(1L, (a, b) => a * b);
        if (values.Length != expected)
            throw new ArgumentException($"{what} hold {values.Length} values, expected {string.Join("x", shape)}");
        return tensor(values, shape);
    }
}
