using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace P2PDistill.Shared.Serialization;

/// <summary>
/// Takes the place of Akka's JSON fallback: Akka's reference.conf binds <see cref="object"/> to Newtonsoft JSON under serializer
/// id 1, which reads a frame with <c>TypeNameHandling.All</c> and no binder, so the <c>$type</c> a frame carries picks the type a
/// node builds (any type of any loaded assembly, its constructor and setters run). This serializer holds id 1 and the
/// <see cref="object"/> binding and refuses everything: a message of a type without an explicit binding fails loudly when it is
/// sent, instead of going out as JSON, and a frame of serializer id 1 is refused when it arrives, whatever it names (Akka drops
/// that message and keeps the association). docs/security.md, "Only the project's types are deserialised".
/// </summary>
public sealed class RefusingSerializer(ExtendedActorSystem system) : Serializer(system)
{
    /// <summary>
    /// The constructor Akka calls for a serializer named <c>json</c>: reference.conf keeps settings under
    /// <c>akka.actor.serialization-settings.json</c>, which this one ignores.
    /// </summary>
    public RefusingSerializer(ExtendedActorSystem system, Config settings) : this(system)
    {
    }

    /// <summary>The id of Akka's JSON serializer, which this one replaces.</summary>
    public const int SerializerId = 1;

    public override int Identifier => SerializerId;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) => throw new SerializationException(
        $"{obj?.GetType().FullName ?? "null"} has no serializer of its own, and this node sends nothing as Akka's JSON fallback: " +
        "make it a control message (IP2PDistillMessage, listed in AkkaSerialization.ControlTypes) or a step message (IStepMessage), " +
        "or keep it local");

    public override object FromBinary(byte[] bytes, Type? type) => throw new SerializationException(
        $"a frame of {bytes.Length:N0} bytes for serializer id {SerializerId} (Akka's JSON fallback{(type is null ? "" : ", naming " + type.FullName)}) is refused: " +
        "this node reads only its own serializers; a node that sends it is of another version or not of this cluster");
}
