using P2PDistill.Shared.Data;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Tasks;

namespace P2PDistill.Shared.Training;

/// <summary>
/// What every runner derives the same way from the configuration and the dataset: the batch order, the
/// steps per epoch, and each cohort slot's trainer setup (model, seed, optimizer, loss). Sharing it is what
/// makes the single-process, embedded and cluster runs train the same networks on the same batches.
/// </summary>
public sealed class TrainingPlan
{
    public TrainingPlan(TrainingOptions training, DataOptions data, DatasetSplits splits, Normalization normalization, OptimizerOptions optimizer)
    {
        Training = training;
        Data = data;
        Splits = splits;
        Normalization = normalization;
        Optimizer = optimizer;
        if ((splits.Train is Detection.IDetectionDataset) != (training.Task == Settings.TaskKind.Detection))
            throw new DatasetException(training.Task == Settings.TaskKind.Detection
                ? $"--task detection needs a data set of boxes, but '{data.Dataset}' has none: use {string.Join(", ", DatasetFactory.DetectionDatasets)}"
                : $"the data set '{data.Dataset}' holds boxes: add --task detection");
        Batches = new BatchPlan(splits.Train.Count, training.BatchSize, (int)training.Seed, shuffle: true, dropLast: splits.Train.Count >= training.BatchSize);
        StepsPerEpoch = training.MaxStepsPerEpoch > 0 ? Math.Min(training.MaxStepsPerEpoch, Batches.Steps) : Batches.Steps;
        TotalSteps = (long)StepsPerEpoch * training.Epochs;
        Spec = new ModelSpec(splits.Shape.Channels, splits.Shape.Height, splits.Shape.Width, splits.NumClasses);
        Task = TrainingTasks.For(training.Task, Spec, splits.ClassNames);
    }

    /// <summary>
    /// What the cohort learns: the losses, the targets between the halves of a step, and the evaluation. Settable so that a
    /// measurement can wrap it (the wire-precision benchmark rounds the targets as a half-precision wire would).
    /// </summary>
    public ITrainingTask Task { get; init; }

    public TrainingOptions Training { get; }
    public DataOptions Data { get; }
    public DatasetSplits Splits { get; }
    public Normalization Normalization { get; }
    public OptimizerOptions Optimizer { get; }
    public BatchPlan Batches { get; }
    public int StepsPerEpoch { get; }
    public long TotalSteps { get; }
    /// <summary>The dataset's fingerprint, computed on first use (local data mode).</summary>
    public string Fingerprint => fingerprint ??= DatasetFingerprint.Compute(Splits);
    private string? fingerprint;

    /// <summary>Batches of one evaluation: the test split's, then the validation split's (when there is one).</summary>
    public int EvaluationBatchCount => Batched(Splits.Test.Count) + (Splits.Val is null ? 0 : Batched(Splits.Val.Count));

    private int Batched(int count) => (count + Training.BatchSize - 1) / Training.BatchSize;

    /// <summary>Images in training batch (epoch, step).</summary>
    public int TrainBatchSize(int epoch, int step) => Batches.Indices(epoch, step).Length;

    /// <summary>The input shape and classes every network must have.</summary>
    public ModelSpec Spec { get; }

    /// <summary>
    /// Runners that build the networks themselves (single-process, embedded): stops with one clear message, before anything is
    /// written, when --teacher-model or --student-model cannot take the dataset's images or classes.
    /// </summary>
    /// <exception cref="ArgumentException">A model does not fit the dataset; the message names the flag, the model, the dataset and the fix.</exception>
    public void EnsureModelsFit()
    {
        var problems = new List<string>();
        var students = Training.StudentModels.Length > 0 ? Training.StudentModels.Distinct().Select(m => ("student-models", m)) : [("student-model", Training.StudentModel)];
        foreach (var (flag, name) in new[] { ("teacher-model", Training.TeacherModel) }.Concat(students))
            if (ModelRegistry.Validate(name, Spec, Training.Task) is { } why)
                problems.Add($"--{flag}: {why} (the dataset '{Data.Dataset}' has {Splits.Shape} images in {Splits.NumClasses} classes); " +
                    $"choose a model that fits ({string.Join(", ", ModelRegistry.Names.Where(n => !ModelRegistry.Get(n).ForBenchmarks && ModelRegistry.Validate(n, Spec, Training.Task) is null))}) or change the image size");
        if (problems.Count > 0) throw new ArgumentException(string.Join("; ", problems));
    }

    /// <summary>The training batch of (epoch, step), augmented: identical on every runner.</summary>
    public ImageBatch TrainBatch(int epoch, int step) =>
        Task.Batch(Splits.Train, Batches.Indices(epoch, step), Data.Augment, (int)Training.Seed, epoch, step);

    /// <summary>
    /// What every model predicts at an evaluation, in order and in batches of the training batch size: the test split, then
    /// the validation split when the data set has one. <see cref="EvaluationOf"/> splits the predictions back.
    /// </summary>
    public IEnumerable<ImageBatch> EvaluationBatches() =>
        EvaluationIndices().Select(b => Task.Batch(b.Split, b.Indices, AugmentOptions.None, 0, 0, 0));

    /// <summary>Images in each of <see cref="EvaluationBatches"/>, in its order, without building the batches.</summary>
    public IEnumerable<int> EvaluationBatchSizes() => EvaluationIndices().Select(b => b.Indices.Length);

    private IEnumerable<(IImageDataset Split, int[] Indices)> EvaluationIndices() =>
        new[] { Splits.Test, Splits.Val }.OfType<IImageDataset>()
            .SelectMany(split => BatchPlan.InOrder(split.Count, Training.BatchSize).Batches(0).Select(indices => (split, indices)));

    /// <summary>
    /// The evaluation of every model from its probabilities over <see cref="EvaluationBatches"/> (rows in that order): metrics
    /// on the test split, and on the validation split in <see cref="EvalRecord.Val"/> when there is one.
    /// </summary>
    public EvalRecord EvaluationOf(int epoch, long globalStep, IReadOnlyList<(string Id, ModelRole Role, float[] Probabilities)> models)
    {
        int testValues = Splits.Test.Count * Task.OutputsPerImage;
        var test = Task.Evaluate(epoch, globalStep, models.Select(m => (m.Id, m.Role, m.Probabilities[..testValues])).ToList(), Splits.Test);
        if (Splits.Val is null) return test;
        var val = Task.Evaluate(epoch, globalStep, models.Select(m => (m.Id, m.Role, m.Probabilities[testValues..])).ToList(), Splits.Val);
        return test with { Val = val };
    }

    /// <summary>Cohort slot 0 is the teacher; students take slots 1, 2, ... Id and seed follow from the slot.</summary>
    public static string ModelId(ModelRole role, int slot) => role == ModelRole.Teacher ? "teacher" : $"student-{slot}";

    public TrainerSetup Setup(ModelRole role, int slot, string modelName) => new(
        ModelId(role, slot), role, modelName, Spec, Optimizer,
        Training.Distillation with { RampUpSteps = (long)Math.Round(Training.RampUpEpochs * StepsPerEpoch) }, Normalization,
        TrainingOptions.ModelSeed(Training.Seed, slot), StepsPerEpoch, TotalSteps) { Task = Training.Task };
}
