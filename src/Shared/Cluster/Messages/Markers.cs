namespace P2PDistill.Shared.Messages;

// Every message is a sealed record in the file of its kind, and carries exactly one of these markers: the serializer
// bindings (AkkaSerialization.Hocon) name the markers, never a message.

/// <summary>
/// Control messages, rare and small: membership (MembershipMessages.cs) and diagnostics (DiagnosticMessages.cs).
/// The JSON <c>ControlMessageSerializer</c>, with the project's allow-list (<c>AkkaSerialization.ControlTypes</c>), is bound to this marker only.
/// </summary>
public interface IP2PDistillMessage;

/// <summary>
/// The hot messages: the training step (StepMessages.cs), evaluation (EvaluationMessages.cs) and state transfer
/// (TransferMessages.cs), sent with the hand-written binary <c>StepMessageSerializer</c>.
/// Deliberately not an <see cref="IP2PDistillMessage"/>: Akka.NET does not rank two matching interface bindings,
/// so each message type must match exactly one.
/// </summary>
public interface IStepMessage;
