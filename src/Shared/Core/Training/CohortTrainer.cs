using System.Diagnostics;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Models;

namespace P2PDistill.Shared.Training;

/// <summary>One network's final weights on disk, with what it was trained as.</summary>
public sealed record ExportedWeights(TrainerSetup Setup, string WeightsPath);

/// <summary>The outcome of a run.</summary>
/// <param name="Exports">Each trained network's weights saved in TorchSharp's format at the end of the run (empty when not exported).</param>
/// <param name="Failed">The run ended on an error (an I/O failure, a non-finite loss, a crashed coordinator), not on request: exit code 1.</param>
public sealed record CohortResult(IReadOnlyList<EvalRecord> Evaluations, long Steps, double Seconds, double ImagesPerSecond, bool Completed, string? StopReason,
    IReadOnlyList<ExportedWeights>? Exports = null, bool Failed = false)
{
    public EvalRecord? Final => Evaluations.Count > 0 ? Evaluations[^1] : null;

    /// <summary>
    /// The evaluation whose validation score (<see cref="EvalRecord.Score"/>) is highest, the earliest on a tie; null when the
    /// data set has no validation split. Its test metrics are the ones to report: the epoch was chosen without the test split.
    /// </summary>
    public EvalRecord? BestOnVal => Evaluations.Where(e => e.Val is not null).MaxBy(e => e.Val!.Score);
}

/// <summary>
/// Trains a teacher and N students in one process, one loop, no actors: the reference the distributed
/// runtime must match step for step, and the baseline for benchmarks. Each step follows DESIGN.md §3
/// exactly: every model sees the same batch; forward on all; targets built from all logits; backward on all.
/// </summary>
public sealed class CohortTrainer : IDisposable
{
    private readonly TrainingOptions options;
    private readonly DatasetSplits data;
    private readonly ILogger logger;
    private readonly List<ModelTrainer> trainers = [];
    private readonly TrainingPlan plan;

    public CohortTrainer(TrainingOptions options, DataOptions dataOptions, DatasetSplits data, Normalization normalization, OptimizerOptions optimizer, ILogger logger)
        : this(new TrainingPlan(options, dataOptions, data, normalization, optimizer), logger)
    {
    }

    public CohortTrainer(TrainingPlan plan, ILogger logger)
    {
        this.plan = plan;
        options = plan.Training;
        data = plan.Splits;
        this.logger = logger;
        trainers.Add(new ModelTrainer(plan.Setup(ModelRole.Teacher, 0, options.TeacherModel)));
        for (int i = 1; i <= options.Students; i++) trainers.Add(new ModelTrainer(plan.Setup(ModelRole.Student, i, options.StudentModelOf(i))));
    }

    public int StepsPerEpoch => plan.StepsPerEpoch;
    public IReadOnlyList<ModelTrainer> Trainers => trainers;

    public CohortResult Run(ITrainingObserver? observer = null, CancellationToken cancellation = default)
    {
        var distillation = options.Distillation;
        var evaluations = new List<EvalRecord>();
        var clock = Stopwatch.StartNew();
        long global = 0;
        foreach (var t in trainers)
            logger.LogInformation("{Id}: {Model}, {Parameters:N0} parameters", t.Id, t.Setup.ModelName, t.ParameterCount);

        var schedule = new TrainingSchedule(plan);
        for (var at = RunPosition.Start; !schedule.IsOver(at);)
        {
            var (epoch, step) = (at.Epoch, at.Step);
            if (cancellation.IsCancellationRequested)
                return new CohortResult(evaluations, global, clock.Elapsed.TotalSeconds, Throughput(global, clock), false, "cancelled");
            var stepClock = Stopwatch.StartNew();
            var batch = plan.TrainBatch(epoch, step);
            var compute = new double[trainers.Count];

            var logits = new float[trainers.Count][];
            for (int m = 0; m < trainers.Count; m++)
            {
                var c = Stopwatch.StartNew();
                logits[m] = trainers[m].Forward(batch);
                compute[m] += c.Elapsed.TotalMilliseconds;
            }

            var targets = plan.Task.Targets(logits[0], logits[1..], batch.Count, distillation);
            var records = new ModelStepRecord[trainers.Count];
            for (int m = 0; m < trainers.Count; m++)
            {
                var c = Stopwatch.StartNew();
                var outcome = trainers[m].Backward(m == 0 ? DistillTargets.None : targets[m - 1]);
                compute[m] += c.Elapsed.TotalMilliseconds;
                records[m] = new ModelStepRecord(trainers[m].Id, trainers[m].Setup.Role, outcome.Loss, outcome.BatchAccuracy, outcome.LearningRate, compute[m]);
                if (!outcome.Applied)
                {
                    var reason = $"{trainers[m].Id}: loss is not finite at epoch {epoch + 1} step {step + 1} ({outcome.Loss}); the step was refused";
                    logger.LogError("{Reason}", reason);
                    return new CohortResult(evaluations, global, clock.Elapsed.TotalSeconds, Throughput(global, clock), false, reason);
                }
            }
            var after = schedule.After(at);
            global = after.Next.CompletedSteps;
            observer?.OnStep(new StepRecord(epoch, step, global, StepsPerEpoch, batch.Count, stepClock.Elapsed.TotalSeconds, records));
            if (after.Evaluate)
            {
                var evaluation = Evaluate(epoch, global);
                evaluations.Add(evaluation);
                observer?.OnEvaluation(evaluation);
            }
            if (after.Checkpoint) WriteCheckpoint(after.Next);
            at = after.Next;
        }
        return new CohortResult(evaluations, global, clock.Elapsed.TotalSeconds, Throughput(global, clock), true, null, SaveWeights());
    }

    /// <summary>Where <see cref="Run"/> writes checkpoints (null: none).</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>The run's id in checkpoint manifests (the run session's; the cluster coordinator writes the same).</summary>
    public string RunId { get; init; } = "run";

    private void WriteCheckpoint(RunPosition at)
    {
        if (CheckpointDirectory is null) return;
        var store = new CheckpointStore(CheckpointDirectory, options.KeepCheckpoints);
        var (global, epoch, stepInEpoch) = (at.CompletedSteps, at.Epoch, at.Step);
        var path = store.Write(RunId, global, epoch, stepInEpoch,
            trainers.Select((t, slot) => (t.Setup, slot, t.StateBytes())),
            warning: w => logger.LogWarning("Checkpoint at step {Step}: {Warning}", global, w));
        logger.LogInformation("Checkpoint at step {Step}: {Path}", global, path);
    }

    /// <summary>Where <see cref="Run"/> saves each network's final weights (null: nowhere).</summary>
    public string? ExportDirectory { get; init; }

    private List<ExportedWeights> SaveWeights()
    {
        if (ExportDirectory is null) return [];
        Directory.CreateDirectory(ExportDirectory);
        return trainers.Select(t => new ExportedWeights(t.Setup,
            AtomicFile.Write(Path.Combine(ExportDirectory, t.Id + ".dat"), tmp => File.WriteAllBytes(tmp, t.WeightsBytes())))).ToList();
    }

    /// <summary>Every model's metrics on the test split, and the student ensemble's.</summary>
    public EvalRecord Evaluate(int epoch, long globalStep)
    {
        var probs = trainers.Select(_ => new List<float>(data.Test.Count * plan.Task.OutputsPerImage)).ToArray();
        foreach (var batch in plan.EvaluationBatches())
            for (int m = 0; m < trainers.Count; m++) probs[m].AddRange(trainers[m].Predict(batch));
        return plan.EvaluationOf(epoch, globalStep, trainers.Select((t, m) => (t.Id, t.Setup.Role, probs[m].ToArray())).ToList());
    }

    private double Throughput(long steps, Stopwatch clock) =>
        clock.Elapsed.TotalSeconds > 0 ? steps * (double)options.BatchSize / clock.Elapsed.TotalSeconds : 0;

    public void Dispose()
    {
        foreach (var t in trainers) t.Dispose();
    }
}
