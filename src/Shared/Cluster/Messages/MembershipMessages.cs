using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Messages;

// Membership (IP2PDistillMessage, ControlMessageSerializer: JSON of an allow-list): a model joins the cohort, is admitted or refused, leaves it, and learns the run is over.

/// <summary>
/// Model actor → coordinator: a network asks to join the cohort (DESIGN.md §2). It declares what it was
/// configured for (input shape, classes); the coordinator checks that against the dataset.
/// </summary>
/// <param name="FrameBytes">
/// The remoting frame of the model's node in bytes (<c>--max-frame-mb</c>, <c>WireLimits.FrameBytes</c>). Every node sizes the
/// weight chunks it sends from its own frame, so the coordinator admits only a node whose frame is its own.
/// </param>
public sealed record RegisterModel(
    string NodeAddress, ModelRole Role, string ModelName,
    int Channels, int Height, int Width, int NumClasses, long FrameBytes) : IP2PDistillMessage;

/// <summary>
/// Coordinator → model actor: admitted. <paramref name="Setup"/> is everything the model trains with
/// (id, cohort slot seed, optimizer, loss settings, normalisation, schedule length): the coordinator's
/// configuration is the single source of truth.
/// </summary>
/// <param name="RestoreChunks">When resuming, or (re)joining a run that has a checkpoint: the number of <see cref="RestoreChunk"/> messages with this model's checkpointed state that follow.</param>
/// <param name="RestoreStep">The global step of that checkpoint.</param>
public sealed record RegistrationAccepted(int Slot, TrainerSetup Setup, LocalData? Local = null, int RestoreChunks = 0, long RestoreStep = 0) : IP2PDistillMessage;

/// <summary>
/// Local data mode: what a node needs to build every batch itself, and the coordinator's dataset fingerprint
/// the node's own copy must match.
/// </summary>
public sealed record LocalData(Data.DataOptions Data, TrainingOptions Training, string Fingerprint);

/// <summary>Coordinator → model actor: not admitted, and why (logged on both sides; the node exits non-zero).</summary>
public sealed record RegistrationRefused(string Reason) : IP2PDistillMessage;

/// <summary>Model actor → coordinator: it reports once, after building its network, how big it is.</summary>
public sealed record ModelReady(string ModelId, long Parameters) : IP2PDistillMessage;

/// <summary>
/// Coordinator → a model it dropped from the cohort (unreachable, missed a timeout) while the model may still be alive:
/// register again. Remoting delivers it once the node is reachable again, and the node rejoins at a step boundary.
/// </summary>
/// <param name="CountedThrough">The last step the coordinator counted for this model: a held update of a later step is dropped, not applied.</param>
public sealed record DroppedFromCohort(string Reason, long CountedThrough = long.MaxValue) : IP2PDistillMessage;

/// <summary>
/// Coordinator → the teacher, at a step boundary after it ran ahead (issue 14's run-ahead, or a folded next step given up):
/// requests of steps after <paramref name="CountedThrough"/> were given up. The teacher takes back the updates of those
/// steps and drops a held one, so that evaluation, checkpoints and the next steps see the network of the steps counted.
/// </summary>
public sealed record Rewind(long CountedThrough) : IP2PDistillMessage;

/// <summary>Coordinator → every model actor: the run is over (the peer node then exits: 0 when <paramref name="Completed"/>).</summary>
/// <param name="CountedThrough">The last step the coordinator counted for this model: a held update of a later step is dropped, not applied.</param>
public sealed record TrainingFinished(bool Completed, string? Reason, long CountedThrough = long.MaxValue) : IP2PDistillMessage;
