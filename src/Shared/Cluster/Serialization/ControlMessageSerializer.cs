using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using P2PDistill.Shared.Messages;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace P2PDistill.Shared.Serialization;

/// <summary>
/// The control messages (<see cref="IP2PDistillMessage"/>: membership and diagnostics) on the wire: UTF-8 JSON of the
/// allow-listed message types, named by a short manifest (the type's name). Issue 16: every length a frame claims must be
/// checked before anything is allocated. Hyperion, which carried these messages before, sizes strings and arrays from the
/// lengths it reads and allocates before it reads them (a 65-byte frame made it allocate 16 MB, a 107-byte one 268 MB).
/// A JSON reader has no length fields to believe: every string and array is only as long as the bytes that spell it, so a
/// decode allocates a small multiple of the frame (<c>WireFuzzSpecs</c> checks it), and a frame is at most the remoting frame.
/// </summary>
/// <remarks>
/// What it accepts: only a manifest of <see cref="AkkaSerialization.ControlTypes"/>, which are built only from the type
/// that manifest names (a property typed <see cref="object"/> reads as a <see cref="JsonElement"/>, never as a type the frame
/// names). Enums are read by name only, so a number outside an enum is refused; every constructor parameter without a
/// default must be present and non-nullable references may not be null. Anything else is a <see cref="SerializationException"/>,
/// on which Akka drops that one message and keeps the association.
/// </remarks>
public sealed class ControlMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>This serializer's id in Akka's serializer table (the step serializer is 4711).</summary>
    public const int SerializerId = 4712;

    private static readonly JsonSerializerOptions Options = new()
    {
        MaxDepth = 16,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // NaN in a diverged model's parameters
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        Converters = { new JsonStringEnumConverter(namingPolicy: null, allowIntegerValues: false) },
    };

    private static readonly IReadOnlyDictionary<string, Type> ByManifest = AkkaSerialization.ControlTypes.ToDictionary(t => t.Name, StringComparer.Ordinal);

    private readonly WireLimits limits = WireLimits.Of(system);

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => ByManifest.TryGetValue(o.GetType().Name, out var type) && type == o.GetType()
        ? type.Name
        : throw new SerializationException($"{o.GetType().FullName} is not a control message this serializer may send (AkkaSerialization.ControlTypes)");

    public override byte[] ToBinary(object obj)
    {
        _ = Manifest(obj);
        return JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!ByManifest.TryGetValue(manifest, out var type))
            throw new SerializationException($"control message: unknown manifest '{Shorten(manifest)}' (not on the allow-list)");
        if (bytes.Length > limits.FrameBytes)
            throw new SerializationException($"control message {manifest}: {bytes.Length:N0} bytes, more than the remoting frame of {limits.FrameBytes:N0} bytes");
        try
        {
            return JsonSerializer.Deserialize(bytes, type, Options)
                ?? throw new SerializationException($"control message {manifest}: the frame holds null");
        }
        catch (Exception e) when (e is not SerializationException)
        {
            throw new SerializationException($"control message {manifest}: a malformed frame of {bytes.Length} bytes: {e.GetType().Name}: {Shorten(e.Message)}", e);
        }
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";
}
