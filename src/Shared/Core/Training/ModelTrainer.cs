using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Shared.Training;

/// <summary>Everything a <see cref="ModelTrainer"/> needs to build its network and optimizer.</summary>
public sealed record TrainerSetup(
    string Id,
    ModelRole Role,
    string ModelName,
    ModelSpec Spec,
    OptimizerOptions Optimizer,
    DistillationSettings Distillation,
    Normalization Normalization,
    long Seed,
    long StepsPerEpoch,
    long TotalSteps)
{
    /// <summary>What the network learns: its loss, targets and predictions come from this task.</summary>
    public TaskKind Task { get; init; } = TaskKind.Classification;
}

/// <summary>The result of the second half of a step on one model.</summary>
/// <param name="Applied">False when the loss was not finite: no backward, no optimizer step.</param>
public sealed record StepOutcome(LossParts Loss, double BatchAccuracy, bool Applied, double LearningRate);

/// <summary>
/// One network with its optimizer and its own random generator. A step is split in two halves, as the
/// cluster protocol needs (DESIGN.md §3): <see cref="Forward"/> keeps the graph and returns the logits;
/// <see cref="Backward"/> takes the distillation targets, computes the loss, backpropagates and steps.
/// Not thread-safe: one trainer is driven by one thread (a model actor on a pinned dispatcher).
/// </summary>
public sealed class ModelTrainer : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly TorchSharp.Modules.OptimizerHelper optimizer;
    private readonly Generator generator;
    private readonly ITrainingTask task;
    private Tensor? pendingLogits;
    private ImageBatch? pendingBatch;
    private bool disposed;

    public ModelTrainer(TrainerSetup setup)
    {
        Setup = setup;
        var why = setup.Optimizer.Validate() ?? setup.Distillation.Validate().FirstOrDefault();
        if (why is not null) throw new ArgumentException($"{setup.Id}: {why}");

        // The model's own generator draws its initial weights and its dropout masks, so both depend on its
        // seed alone, whatever other models or threads do with TorchSharp's process-wide generator.
        task = TrainingTasks.For(setup.Task, setup.Spec);
        generator = new Generator((ulong)setup.Seed, CPU);
        model = ModelRegistry.Create(setup.ModelName, setup.Spec);
        ModelInit.Apply(model, generator);
        foreach (var m in model.modules().OfType<SeededDropout>()) m.Generator = generator;
        ParameterCount = ModelRegistry.ParameterCount(model);
        optimizer = CreateOptimizer(model.parameters(), setup.Optimizer);
    }

    public TrainerSetup Setup { get; }
    public string Id => Setup.Id;
    public long ParameterCount { get; }

    /// <summary>Optimizer steps applied so far (the global step of the next one).</summary>
    public long StepsApplied { get; private set; }

    public nn.Module<Tensor, Tensor> Network => model;

    /// <summary>First half of a step: forward in training mode, keeping the graph. Returns the output (logits [B*C], a detector's dense map) row-major.</summary>
    public float[] Forward(ImageBatch batch)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        DropPending();
        model.train();
        using var scope = NewDisposeScope();
        var input = BatchTensors.ToTensor(batch, Setup.Normalization);
        var logits = model.forward(input);
        pendingLogits = logits.DetachFromDisposeScope();
        pendingBatch = batch;
        return logits.detach().data<float>().ToArray();
    }

    /// <summary>
    /// Second half of a step: loss (teacher: CE; student: CE + KD + ML from <paramref name="targets"/>),
    /// backward and optimizer step. A non-finite loss is refused: nothing is applied.
    /// </summary>
    /// <param name="commit">
    /// False: compute the gradients but hold the optimizer step until <see cref="Commit"/> (or drop it with
    /// <see cref="Discard"/>). The model actor commits a step only once the coordinator has counted it, so that a model
    /// dropped from a step it answered too late never applies it: its optimizer steps always equal the steps it took part in.
    /// </param>
    public StepOutcome Backward(DistillTargets targets, bool commit = true)
    {
        Commit();
        ObjectDisposedException.ThrowIf(disposed, this);
        if (pendingLogits is null || pendingBatch is null)
            throw new InvalidOperationException($"{Id}: Backward called without a pending Forward");
        try
        {
            using var scope = NewDisposeScope();
            var output = pendingLogits;
            var batch = pendingBatch;
            LossTensors loss;
            try
            {
                loss = Setup.Role == ModelRole.Teacher
                    ? task.TeacherLoss(output, batch)
                    : task.StudentLoss(output, batch, Setup.Distillation.AtStep(StepsApplied), targets);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{Id}: {e.Message}", e);
            }

            var parts = loss.ToParts();
            var accuracy = task.BatchScore(output.detach(), batch);
            var lr = LearningRateSchedule.At(Setup.Optimizer, StepsApplied, Setup.StepsPerEpoch, Setup.TotalSteps);
            if (!parts.IsFinite) return new StepOutcome(parts, accuracy, false, lr);

            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            optimizer.zero_grad();
            loss.Total.backward();
            uncommitted = true;
            if (commit) Commit();
            return new StepOutcome(parts, accuracy, true, lr);
        }
        finally
        {
            DropPending();
        }
    }

    private bool uncommitted;

    /// <summary>Whether a step's gradients wait for <see cref="Commit"/> or <see cref="Discard"/>.</summary>
    public bool HasUncommittedStep => uncommitted;

    /// <summary>Applies the held optimizer step, if any.</summary>
    public void Commit()
    {
        if (!uncommitted) return;
        optimizer.step();
        StepsApplied++;
        uncommitted = false;
    }

    /// <summary>Drops the held optimizer step, if any: the network stays as it was before that step.</summary>
    public void Discard()
    {
        if (!uncommitted) return;
        optimizer.zero_grad();
        uncommitted = false;
    }

    /// <summary>What <see cref="CommitUndoable"/> kept, oldest first: the state from before each step it applied.</summary>
    private readonly List<(MemoryStream State, long StepsApplied)> undoPoints = [];
    private readonly Stack<MemoryStream> spareUndoBuffers = new();

    /// <summary>Whether <see cref="UndoLast"/> can take back a step applied by <see cref="CommitUndoable"/>.</summary>
    public bool CanUndo => undoPoints.Count > 0;

    /// <summary>
    /// Applies the held optimizer step, keeping what it takes to take it back: the weights, buffers and optimizer state from
    /// before it (in memory; buffers are reused). The model actor applies a step before the coordinator counted it (a
    /// student's fold, the teacher's next whole step, the teacher's run-ahead); a drop that did not count it takes it back with
    /// <see cref="UndoLast"/>, and once it is counted <see cref="ForgetOldest"/> lets it go.
    /// </summary>
    public void CommitUndoable()
    {
        if (!uncommitted) return;
        var buffer = spareUndoBuffers.Count > 0 ? spareUndoBuffers.Pop() : new MemoryStream();
        buffer.SetLength(0);
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            model.save(w);
            optimizer.save_state_dict(w);
        }
        undoPoints.Add((buffer, StepsApplied));
        Commit();
    }

    /// <summary>
    /// Takes back the last <paramref name="steps"/> steps <see cref="CommitUndoable"/> applied (a held step is dropped too):
    /// the network and optimizer are as they were before the earliest of them.
    /// </summary>
    public void UndoLast(int steps = 1)
    {
        steps = Math.Min(steps, undoPoints.Count);
        if (steps <= 0) return;
        Discard();
        DropPending();
        int first = undoPoints.Count - steps;
        var (state, stepsApplied) = undoPoints[first];
        state.Position = 0;
        using (var r = new BinaryReader(state, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            model.load(r);
            optimizer.load_state_dict(r);
        }
        StepsApplied = stepsApplied;
        for (int i = undoPoints.Count - 1; i >= first; i--) spareUndoBuffers.Push(undoPoints[i].State);
        undoPoints.RemoveRange(first, steps);
    }

    /// <summary>Takes back the step <see cref="CommitUndoable"/> applied last.</summary>
    public void Undo() => UndoLast(1);

    /// <summary>The oldest <paramref name="steps"/> steps <see cref="CommitUndoable"/> applied were counted: they are kept for good.</summary>
    public void ForgetOldest(int steps)
    {
        steps = Math.Min(steps, undoPoints.Count);
        for (int i = 0; i < steps; i++) spareUndoBuffers.Push(undoPoints[i].State);
        undoPoints.RemoveRange(0, steps);
        while (spareUndoBuffers.Count > 2) spareUndoBuffers.Pop().Dispose(); // a run-ahead that ended leaves no big buffers behind
    }

    /// <summary>Every step <see cref="CommitUndoable"/> applied was counted.</summary>
    public void ForgetUndo() => ForgetOldest(undoPoints.Count);

    /// <summary>The network's weights in TorchSharp's format (what <c>module.save</c> writes), for export.</summary>
    public byte[] WeightsBytes()
    {
        using var ms = new MemoryStream();
        model.save(ms);
        return ms.ToArray();
    }

    /// <summary>
    /// Everything needed to continue training from here, as one blob: the weights, the optimizer state and the
    /// generator state with the step count (each length-prefixed). Restored by <see cref="LoadState"/>.
    /// </summary>
    public byte[] StateBytes()
    {
        var dir = Directory.CreateTempSubdirectory("p2pdistill-state-").FullName;
        try
        {
            var prefix = Path.Combine(dir, "m");
            Save(prefix);
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms))
                foreach (var ext in new[] { ".weights", ".optim", ".rng" })
                {
                    var bytes = File.ReadAllBytes(prefix + ext);
                    w.Write(bytes.Length);
                    w.Write(bytes);
                }
            return ms.ToArray();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Restores what <see cref="StateBytes"/> produced.</summary>
    public void LoadState(byte[] state)
    {
        var dir = Directory.CreateTempSubdirectory("p2pdistill-state-").FullName;
        try
        {
            var prefix = Path.Combine(dir, "m");
            using (var r = new BinaryReader(new MemoryStream(state)))
                foreach (var ext in new[] { ".weights", ".optim", ".rng" })
                    File.WriteAllBytes(prefix + ext, r.ReadBytes(r.ReadInt32()));
            Load(prefix);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Every parameter's values, flattened in state-dict order.</summary>
    public float[] FlatParameters() => model.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    /// <summary>What evaluation collects for a batch (class probabilities [B*C]; a detector's probability map), in evaluation mode without gradients.</summary>
    public float[] Predict(ImageBatch batch)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var input = BatchTensors.ToTensor(batch, Setup.Normalization);
        return task.Predictions(model.forward(input));
    }

    /// <summary>Writes weights, optimizer state and generator state as <c>{prefix}.weights</c>, <c>.optim</c>, <c>.rng</c>, each atomically.</summary>
    public IReadOnlyList<string> Save(string prefix)
    {
        var files = new List<string>
        {
            AtomicFile.Write(prefix + ".weights", tmp => model.save(tmp)),
            AtomicFile.Write(prefix + ".optim", tmp => optimizer.save_state_dict(tmp)),
            AtomicFile.Write(prefix + ".rng", tmp =>
            {
                using var state = generator.get_state();
                var bytes = state.data<byte>().ToArray();
                using var w = new BinaryWriter(File.Create(tmp));
                w.Write(StepsApplied);
                w.Write(bytes.Length);
                w.Write(bytes);
            }),
        };
        return files;
    }

    /// <summary>Restores what <see cref="Save"/> wrote.</summary>
    public void Load(string prefix)
    {
        DropPending();
        ForgetUndo();
        model.load(prefix + ".weights");
        optimizer.load_state_dict(prefix + ".optim");
        using var r = new BinaryReader(File.OpenRead(prefix + ".rng"));
        StepsApplied = r.ReadInt64();
        var bytes = r.ReadBytes(r.ReadInt32());
        using var state = tensor(bytes, dtype: ScalarType.Byte);
        generator.set_state(state);
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        DropPending();
        foreach (var (state, _) in undoPoints) state.Dispose();
        foreach (var buffer in spareUndoBuffers) buffer.Dispose();
        optimizer.Dispose();
        model.Dispose();
        generator.Dispose();
    }

    private void DropPending()
    {
        pendingLogits?.Dispose();
        pendingLogits = null;
        pendingBatch = null;
    }

    private static TorchSharp.Modules.OptimizerHelper CreateOptimizer(IEnumerable<TorchSharp.Modules.Parameter> parameters, OptimizerOptions o) => o.Name switch
    {
        OptimizerKind.Sgd => optim.SGD(parameters, o.LearningRate, momentum: o.Momentum, weight_decay: o.WeightDecay),
        OptimizerKind.Adam => optim.Adam(parameters, o.LearningRate, weight_decay: o.WeightDecay),
        OptimizerKind.AdamW => optim.AdamW(parameters, o.LearningRate, weight_decay: o.WeightDecay),
        _ => throw new ArgumentOutOfRangeException(nameof(o), o.Name, "unknown optimizer"),
    };
}
