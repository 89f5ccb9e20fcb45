using Akka.Actor;
using P2PDistill.Shared.Messages;

namespace P2PDistill.Shared.Serialization;

/// <summary>
/// What one message may take on the wire, from the actor system's settings (issue 16): the remoting frame
/// (<c>akka.remote.dot-netty.tcp.maximum-frame-size</c>, set from <c>--max-frame-mb</c>). No message can be larger than the
/// frame, so no length read from a message may claim more bytes than the frame holds: both serializers refuse a frame above
/// it, and every count is compared with the bytes left before anything is allocated. A system without the setting (one
/// process, no remoting) takes <see cref="DefaultFrameBytes"/>.
/// </summary>
public sealed record WireLimits(long FrameBytes)
{
    /// <summary>The HOCON path of the remoting frame.</summary>
    public const string FramePath = "akka.remote.dot-netty.tcp.maximum-frame-size";

    /// <summary>The frame of a system without remoting settings: the largest array the step serializer ever took (256 MiB).</summary>
    public const long DefaultFrameBytes = 256L * 1024 * 1024;

    /// <summary>Room left in a frame for a chunk message's fields around its data (ids, index, count, lengths), and Akka's envelope.</summary>
    public const int ChunkHeaderBytes = 64 * 1024;

    /// <summary>
    /// Room in a frame for Akka's envelope around a message: the recipient's and the sender's actor paths (with host names and
    /// actor names, up to a few hundred bytes each), the manifest, the serializer id, sequence and ack numbers, and their protobuf
    /// framing. Measured on loopback: 159 bytes around a weights chunk. A message whose envelope does not fit is dropped by the
    /// sending transport; one that fits but for the 4-byte length prefix makes the receiving transport drop the whole association.
    /// So a message may take the frame less this; 4 KiB leaves room for long host names and paths (<c>BadFrameRemotingSpecs</c>).
    /// </summary>
    public const int EnvelopeBytes = 4 * 1024;

    /// <summary>The largest message, as its serializer writes it, that crosses in this frame with Akka's envelope around it.</summary>
    public long MessageBytes => FrameBytes - EnvelopeBytes;

    /// <summary>The limits of this actor system.</summary>
    public static WireLimits Of(ActorSystem system)
    {
        var config = system.Settings.Config;
        long frame = config.HasPath(FramePath) ? config.GetByteSize(FramePath) ?? DefaultFrameBytes : DefaultFrameBytes;
        return new WireLimits(frame > 0 ? frame : DefaultFrameBytes);
    }

    /// <summary>
    /// The data of one weights or restore chunk: the frame less <see cref="ChunkHeaderBytes"/>, at most
    /// <see cref="Chunks.PartBytes"/>, so that any frame the command line accepts (1 MiB and up) carries checkpoints.
    /// </summary>
    public int ChunkBytes => (int)Math.Clamp(FrameBytes - ChunkHeaderBytes, 4 * 1024, Chunks.PartBytes);
}
