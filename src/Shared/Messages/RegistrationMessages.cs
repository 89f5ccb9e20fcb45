using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Messages;

/// <summary>Model actor → coordinator: a network asks to join the cohort (DESIGN.md §2).</summary>
public sealed record RegisterModel(
    string NodeAddress, ModelRole Role, string ModelName, long Parameters,
    int Channels, int Height, int Width, int NumClasses) : IP2PDistillMessage;

/// <summary>Coordinator → model actor: admitted; the model's id, cohort slot (its seed) and what it trains with.</summary>
public sealed record RegistrationAccepted(string ModelId, int Slot, long Seed) : IP2PDistillMessage;

/// <summary>Coordinator → model actor: not admitted, and why (logged on both sides; the node exits non-zero).</summary>
public sealed record RegistrationRefused(string Reason) : IP2PDistillMessage;
