using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using Hyperion;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace P2PDistill.Shared.Serialization;

/// <summary>
/// Hyperion, refusing every type that is not on <see cref="AkkaSerialization.AllowedTypes"/> (and Hyperion's own
/// unsafe-type list), when serialising and when deserialising.
/// </summary>
/// <remarks>
/// Why a subclass: with Akka.Serialization.Hyperion 1.5.73 / Hyperion 0.12.2 neither documented route works.
/// A filter given by <c>HyperionSerializerSetup</c> never reaches the Hyperion serializer, and the HOCON
/// <c>allowed-types</c> filter compares short type names on deserialisation but full assembly-qualified names
/// (with version) on serialisation, so it rejects the very types it allows. This filter compares names with
/// version, culture and key stripped, and the base constructor hands it to Hyperion directly.
/// </remarks>
public sealed class AllowListHyperionSerializer : HyperionSerializer
{
    private readonly WireLimits limits;

    public AllowListHyperionSerializer(ExtendedActorSystem system, Config config)
        : base(system, WithAllowList(HyperionSerializerSettings.Create(config)))
    {
        limits = WireLimits.Of(system);
    }

    /// <summary>
    /// Refuses a frame larger than the remoting frame (<see cref="WireLimits"/>), and turns whatever Hyperion throws on a
    /// malformed frame into a <see cref="SerializationException"/>: Akka drops that one message and keeps the association.
    /// </summary>
    public override object FromBinary(byte[] bytes, Type type)
    {
        if (bytes.Length > limits.FrameBytes)
            throw new SerializationException($"Hyperion: {bytes.Length:N0} bytes, more than the remoting frame of {limits.FrameBytes:N0} bytes");
        try
        {
            return base.FromBinary(bytes, type);
        }
        catch (Exception e) when (e is not SerializationException)
        {
            throw new SerializationException($"Hyperion: a malformed message of {bytes.Length} bytes: {e.GetType().Name}: {e.Message}", e);
        }
    }

    private static HyperionSerializerSettings WithAllowList(HyperionSerializerSettings s) => new(
        s.PreserveObjectReferences, s.VersionTolerance, s.KnownTypesProvider, s.PackageNameOverrides, s.Surrogates,
        disallowUnsafeType: true, typeFilter: new HyperionAllowList(AkkaSerialization.AllowedTypes));
}

/// <summary>Type names compared without version, culture and public key token.</summary>
public sealed partial class HyperionAllowList(IEnumerable<Type> types) : ITypeFilter
{
    private readonly HashSet<string> allowed = types.Select(t => Normalize(t.AssemblyQualifiedName!)).ToHashSet(StringComparer.Ordinal);

    public bool IsAllowed(string typeName) => allowed.Contains(Normalize(typeName));

    public static string Normalize(string name) => Noise().Replace(name, "").Replace(" ", "");

    [GeneratedRegex(@",\s*(Version|Culture|PublicKeyToken)=[^,\]]*")]
    private static partial Regex Noise();
}
