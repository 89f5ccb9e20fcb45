namespace P2PDistill.Shared.Messages;

// Diagnostics (IP2PDistillMessage, ControlMessageSerializer: JSON of an allow-list): a model's parameters, for tests and inspection.

/// <summary>Asks a model actor for its current parameters, flattened in state-dict order (diagnostics and tests).</summary>
public sealed record GetParameters : IP2PDistillMessage
{
    public static GetParameters Instance { get; } = new();
}

/// <summary>A model's parameters, flattened in state-dict order.</summary>
public sealed record ModelParameters(string ModelId, long StepsApplied, float[] Values) : IP2PDistillMessage;
