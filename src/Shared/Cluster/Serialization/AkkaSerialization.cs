using P2PDistill.Shared.Messages;

namespace P2PDistill.Shared.Serialization;

/// <summary>
/// How P2PDistill's messages cross the wire (DESIGN.md §7): the step messages (<see cref="IStepMessage"/>) with the
/// hand-written binary <see cref="StepMessageSerializer"/>, the control messages (<see cref="IP2PDistillMessage"/>) with
/// <see cref="ControlMessageSerializer"/> (JSON of an allow-list of types). Each serializer is bound to its marker interface
/// only, and checks every length against the bytes it has before it allocates (issue 16).
/// </summary>
/// <remarks>
/// DESIGN.md §7 names Hyperion for the control messages. Hyperion allocates strings and arrays at the lengths a frame claims
/// before it reads them, which no check around it can bound, so issue 16 replaced it (docs/design/hardening.md, "Control
/// messages without Hyperion"); its allow-list and unsafe-type filter live on as <see cref="ControlTypes"/>.
/// </remarks>
public static class AkkaSerialization
{
    /// <summary>
    /// The allow-list: every type a control frame may name, i.e. the project's concrete control messages. What they carry is
    /// built from their declared property types, never from a name in the frame. A batch, its shape and a student's targets
    /// are not control messages: they only travel inside step messages, through <see cref="StepMessageSerializer"/>.
    /// </summary>
    public static IReadOnlyList<Type> ControlTypes { get; } = typeof(IP2PDistillMessage).Assembly.GetTypes()
        .Where(t => typeof(IP2PDistillMessage).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
        .OrderBy(t => t.Name, StringComparer.Ordinal)
        .ToArray();

    /// <summary>
    /// The serialization HOCON: the step serializer and the control serializer, each bound to its marker; and Akka's JSON fallback
    /// (the serializer named <c>json</c>, id 1, bound to <see cref="object"/> by Akka's reference.conf) replaced by
    /// <see cref="RefusingSerializer"/>, so that no frame can choose the type a node builds and no type without its own binding
    /// leaves a node as JSON.
    /// </summary>
    public const string Hocon = """
        akka.actor {
          serializers {
            json = "P2PDistill.Shared.Serialization.RefusingSerializer, P2PDistill.Shared"
            p2pdistill-control = "P2PDistill.Shared.Serialization.ControlMessageSerializer, P2PDistill.Shared"
            p2pdistill-step = "P2PDistill.Shared.Serialization.StepMessageSerializer, P2PDistill.Shared"
          }
          serialization-bindings {
            "System.Object" = json
            "P2PDistill.Shared.Messages.IP2PDistillMessage, P2PDistill.Shared" = p2pdistill-control
            "P2PDistill.Shared.Messages.IStepMessage, P2PDistill.Shared" = p2pdistill-step
          }
          serialization-identifiers {
            "P2PDistill.Shared.Serialization.RefusingSerializer, P2PDistill.Shared" = 1
            "P2PDistill.Shared.Serialization.StepMessageSerializer, P2PDistill.Shared" = 4711
            "P2PDistill.Shared.Serialization.ControlMessageSerializer, P2PDistill.Shared" = 4712
          }
        }
        """;
}
