namespace P2PDistill.Shared.Messages;

/// <summary>The project's control messages (registration, evaluation, checkpoints, ...). Hyperion is bound to this marker only.</summary>
public interface IP2PDistillMessage;

/// <summary>
/// The hot messages of a training step, sent with the hand-written binary <c>StepMessageSerializer</c>.
/// Deliberately not an <see cref="IP2PDistillMessage"/>: Akka.NET does not rank two matching interface bindings,
/// so each message type must match exactly one.
/// </summary>
public interface IStepMessage;
