using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Messages;

// Evaluation (IStepMessage, binary StepMessageSerializer): the test split through every model.

/// <summary>Coordinator → every model: predict this test batch (part <paramref name="Index"/> of evaluation <paramref name="EvalId"/>).</summary>
public sealed record EvaluateBatch(long EvalId, int Index, ImageBatch Batch) : IStepMessage;

/// <summary>Coordinator → every model, local data mode: predict the whole test split, answering one <see cref="EvalProbabilities"/> per batch.</summary>
public sealed record EvaluateLocal(long EvalId) : IStepMessage;

/// <summary>
/// Model → coordinator: its predictions [Count, Classes] for one evaluation batch: softmax probabilities, or a detector's
/// probability map (<paramref name="Classes"/> is then the task's outputs per image, L·(C + 4B)).
/// </summary>
public sealed record EvalProbabilities(long EvalId, int Index, string ModelId, int Count, int Classes, float[] Probabilities) : IStepMessage;
