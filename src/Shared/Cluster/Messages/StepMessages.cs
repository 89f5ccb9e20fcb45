using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Messages;

// The training step (IStepMessage, binary StepMessageSerializer): the hot path, every step.

/// <summary>Coordinator → every model: the first half of step <paramref name="GlobalStep"/> on this batch (ship mode).</summary>
/// <param name="Attempt">The coordinator's request id; every reply echoes it, and a reply with any other id is ignored.</param>
/// <param name="WholeStep">
/// The teacher's fast path (issue 14): its loss is CE only, so it trains the whole step at once (forward, backward) and
/// answers <see cref="StepLogits"/> (computed before its update) and then <see cref="StepDone"/>; no <see cref="ApplyTargets"/> follows.
/// </param>
/// <param name="CountedThrough">
/// With <paramref name="WholeStep"/>: the last step the coordinator counted for this model (-1: not said, then the step before
/// the previous one). The teacher's request leaves before its previous steps are counted (the fold, run-ahead), so it applies
/// their updates undoably and lets the copies go once they are counted.
/// </param>
public sealed record TrainStep(long GlobalStep, int Epoch, int Step, ImageBatch Batch, long Attempt = 0, bool WholeStep = false, long CountedThrough = -1) : IStepMessage;

/// <summary>Coordinator → every model, local data mode: the first half of the step; each node builds batch (epoch, step) itself.</summary>
public sealed record TrainStepLocal(long GlobalStep, int Epoch, int Step, long Attempt = 0, bool WholeStep = false, long CountedThrough = -1) : IStepMessage;

/// <summary>
/// Coordinator → one student, the one-round-trip fold (issue 14): the second half of step <c>Apply.GlobalStep</c> and the first
/// half of the next one in one message. The student applies the step (its update precedes the next forward, as in the
/// single-process trainer), answers <see cref="StepDone"/> for it, then runs the forward of <paramref name="Next"/> and
/// answers its <see cref="StepLogits"/>.
/// </summary>
/// <param name="Next">A <see cref="TrainStep"/> (ship mode) or a <see cref="TrainStepLocal"/> (local data mode) with its own attempt id.</param>
public sealed record ApplyAndTrain(ApplyTargets Apply, IStepMessage Next) : IStepMessage
{
    public long NextGlobalStep => Next switch { TrainStep t => t.GlobalStep, TrainStepLocal t => t.GlobalStep, _ => -1 };
    public long NextAttempt => Next switch { TrainStep t => t.Attempt, TrainStepLocal t => t.Attempt, _ => -1 };
}

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
