using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Serialization;

/// <summary>
/// How P2PDistill's messages cross the wire (DESIGN.md §7): the step messages with the hand-written
/// <see cref="StepMessageSerializer"/>, every other project message with Hyperion, which is bound to the
/// project's marker interface only, refuses unsafe types and deserialises only the allow-listed types.
/// </summary>
public static class AkkaSerialization
{
    /// <summary>
    /// Every type Hyperion may deserialise: the project's messages and the records they carry. A batch, its shape and a
    /// student's targets are not on it: they only travel inside step messages, through <see cref="StepMessageSerializer"/>.
    /// </summary>
    public static IReadOnlyList<Type> AllowedTypes { get; } = BuildAllowedTypes();

    private static Type[] BuildAllowedTypes() => typeof(IP2PDistillMessage).Assembly.GetTypes()
        .Where(t => typeof(IP2PDistillMessage).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
        .Concat([
            typeof(ModelRole), typeof(TrainerSetup), typeof(Models.ModelSpec),
            typeof(OptimizerOptions), typeof(Losses.DistillationSettings), typeof(Losses.DistillMode), typeof(Normalization),
            typeof(LocalData), typeof(DataOptions), typeof(DataMode), typeof(Settings.TaskKind), typeof(TrainingOptions), typeof(OptimizerKind), typeof(LearningRateScheduleKind),
        ])
        .Distinct()
        .ToArray();

    /// <summary>The serialization HOCON: the step serializer, and Hyperion with the project's allow-list (<see cref="AllowListHyperionSerializer"/>).</summary>
    public const string Hocon = """
        akka.actor {
          serializers {
            hyperion = "P2PDistill.Shared.Serialization.AllowListHyperionSerializer, P2PDistill.Shared"
            p2pdistill-step = "P2PDistill.Shared.Serialization.StepMessageSerializer, P2PDistill.Shared"
          }
          serialization-bindings {
            "P2PDistill.Shared.Messages.IP2PDistillMessage, P2PDistill.Shared" = hyperion
            "P2PDistill.Shared.Messages.IStepMessage, P2PDistill.Shared" = p2pdistill-step
          }
          serialization-identifiers {
            "P2PDistill.Shared.Serialization.StepMessageSerializer, P2PDistill.Shared" = 4711
          }
          serialization-settings.hyperion {
            disallow-unsafe-type = true
            preserve-object-references = false
          }
        }
        """;

}
