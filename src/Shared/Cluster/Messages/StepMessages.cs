using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Messages;

// The training step (IStepMessage, binary StepMessageSerializer): the hot path, every step.

/// <summary>Coordinator → every model: the first half of step <paramref name="GlobalStep"/> on this batch (ship mode).</summary>
/// <param name="Attempt">The coordinator's request id; every reply echoes it, and a reply with any other id is ignored.</param>
public sealed record TrainStep(long GlobalStep, int Epoch, int Step, ImageBatch Batch, long Attempt = 0) : IStepMessage;

/// <summary>Coordinator → every model, local data mode: the first half of the step; each node builds batch (epoch, step) itself.</summary>
public sealed record TrainStepLocal(long GlobalStep, int Epoch, int Step, long Attempt = 0) : IStepMessage;

/// <summary>
/// Model → coordinator: its output for the step, row-major [B, <paramref name="Classes"/>]: a classifier's logits, or a
/// detector's dense map (<paramref name="Classes"/> is then the task's outputs per image, L·(C + 4B)).
/// </summary>
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
