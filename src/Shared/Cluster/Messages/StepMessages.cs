using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Messages;

/// <summary>Coordinator → every model: the first half of step <paramref name="GlobalStep"/> on this batch (ship mode).</summary>
/// <param name="Attempt">The coordinator's request id; every reply echoes it, and a reply with any other id is ignored.</param>
public sealed record TrainStep(long GlobalStep, int Epoch, int Step, ImageBatch Batch, long Attempt = 0) : IStepMessage;

/// <summary>Model → coordinator: its logits for the step, row-major [B, C].</summary>
public sealed record StepLogits(long GlobalStep, string ModelId, int BatchSize, int Classes, float[] Logits, double ComputeMs, long Attempt = 0) : IStepMessage;

/// <summary>Coordinator → one model: the second half of the step, with what its KD and ML terms need (empty for the teacher).</summary>
public sealed record ApplyTargets(long GlobalStep, DistillTargets Targets, long Attempt = 0) : IStepMessage;

/// <summary>Model → coordinator: the step is applied (or refused, when the loss was not finite).</summary>
public sealed record StepDone(
    long GlobalStep, string ModelId, double Loss, double Ce, double Kd, double Ml,
    double BatchAccuracy, double LearningRate, bool Applied, double ComputeMs, long Attempt = 0) : IStepMessage;

/// <summary>
/// Model → coordinator: the request <paramref name="Attempt"/> failed in this model (an exception in its forward, backward or
/// prediction). The model keeps its network; the coordinator goes on with the step without it.
/// </summary>
public sealed record StepFailed(long Attempt, string ModelId, string Reason) : IStepMessage;

/// <summary>Coordinator → every model: predict this test batch (part <paramref name="Index"/> of evaluation <paramref name="EvalId"/>).</summary>
public sealed record EvaluateBatch(long EvalId, int Index, ImageBatch Batch) : IStepMessage;

/// <summary>Model → coordinator: softmax probabilities [Count, Classes] for one evaluation batch.</summary>
public sealed record EvalProbabilities(long EvalId, int Index, string ModelId, int Count, int Classes, float[] Probabilities) : IStepMessage;

/// <summary>Coordinator → every model, local data mode: the first half of the step; each node builds batch (epoch, step) itself.</summary>
public sealed record TrainStepLocal(long GlobalStep, int Epoch, int Step, long Attempt = 0) : IStepMessage;

/// <summary>Coordinator → every model, local data mode: predict the whole test split, answering one <see cref="EvalProbabilities"/> per batch.</summary>
public sealed record EvaluateLocal(long EvalId) : IStepMessage;

/// <summary>
/// Coordinator → every model: send your weights (TorchSharp format) for export at the end of a run, or, with
/// <paramref name="FullState"/>, everything to continue training (weights, optimizer, generator) for a checkpoint.
/// </summary>
public sealed record ExportWeights(long ExportId, bool FullState = false) : IStepMessage;

/// <summary>Model → coordinator: part <paramref name="Index"/> of <paramref name="Count"/> of its weights, chunked to fit the remoting frame.</summary>
public sealed record WeightsChunk(long ExportId, string ModelId, int Index, int Count, byte[] Data) : IStepMessage;

/// <summary>Coordinator → a model admitted to a resumed run: part of its checkpointed training state.</summary>
public sealed record RestoreChunk(string ModelId, int Index, int Count, byte[] Data) : IStepMessage;
