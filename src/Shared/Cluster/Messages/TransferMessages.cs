namespace P2PDistill.Shared.Messages;

// State transfer (IStepMessage, binary StepMessageSerializer): weights out for checkpoints and exports, state in for restores, in chunks (Chunks).

/// <summary>
/// Coordinator → every model: send your weights (TorchSharp format) for export at the end of a run, or, with
/// <paramref name="FullState"/>, everything to continue training (weights, optimizer, generator) for a checkpoint.
/// </summary>
public sealed record ExportWeights(long ExportId, bool FullState = false) : IStepMessage;

/// <summary>Model → coordinator: part <paramref name="Index"/> of <paramref name="Count"/> of its weights, chunked to fit the remoting frame.</summary>
public sealed record WeightsChunk(long ExportId, string ModelId, int Index, int Count, byte[] Data) : IStepMessage;

/// <summary>Coordinator → a model admitted to a resumed run: part of its checkpointed training state.</summary>
public sealed record RestoreChunk(string ModelId, int Index, int Count, byte[] Data) : IStepMessage;
