using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Remote;
using Akka.Serialization;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;

namespace P2PDistill.Tests.Serialization;

/// <summary>Stands in for a hostile or broken peer: the frame it is sent as is <see cref="Bytes"/>, with the step serializer's id and <see cref="Manifest"/>.</summary>
public sealed record Poisoned(string Manifest, byte[] Bytes);

/// <summary>
/// The sending side's step serializer in <see cref="BadFrameRemotingSpecs"/>: the real one, except that a <see cref="Poisoned"/>
/// message goes out as its raw bytes under the real serializer's id, so the receiving node decodes a bad frame.
/// </summary>
public sealed class PoisoningSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private readonly StepMessageSerializer real = new(system);

    public override int Identifier => StepMessageSerializer.SerializerId;

    public override string Manifest(object o) => o is Poisoned p ? p.Manifest : real.Manifest(o);

    public override byte[] ToBinary(object obj) => obj is Poisoned p ? p.Bytes : real.ToBinary(obj);

    public override object FromBinary(byte[] bytes, string manifest) => real.FromBinary(bytes, manifest);
}

/// <summary>
/// Issue 16 §1 over a real association: two actor systems with remoting on loopback. A bad frame is refused as that one message;
/// the association survives and the next good message arrives.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class BadFrameRemotingSpecs : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static string Remoting(string more = "") => $$"""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0, maximum-frame-size = 1048576b }
        akka.loglevel = WARNING
        {{NodeHocon.WireFormat}}
        {{more}}
        """;

    private readonly ActorSystem receiver = ActorSystem.Create("receiver", ConfigurationFactory.ParseString(Remoting()));

    private readonly ActorSystem sender = ActorSystem.Create("sender", ConfigurationFactory.ParseString(Remoting("""
        akka.actor.serializers.p2pdistill-step = "P2PDistill.Tests.Serialization.PoisoningSerializer, P2PDistill.Tests"
        akka.actor.serialization-bindings { "P2PDistill.Tests.Serialization.Poisoned, P2PDistill.Tests" = p2pdistill-step }
        akka.actor.serialization-identifiers { "P2PDistill.Tests.Serialization.PoisoningSerializer, P2PDistill.Tests" = 4711 }
        """)));

    public void Dispose()
    {
        sender.Terminate().Wait(TimeSpan.FromSeconds(10));
        receiver.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    private sealed class Sink(BlockingCollection<object> inbox) : UntypedActor
    {
        protected override void OnReceive(object message) => inbox.Add(message);
    }

    /// <summary>Bad frames of the step serializer: a string length of -1, a 7-bit length of six bytes, an overflowing image shape.</summary>
    public static TheoryData<string, byte[]> BadFrames()
    {
        static byte[] Bytes(Action<BinaryWriter> write)
        {
            var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms)) write(w);
            return ms.ToArray();
        }
        return new()
        {
            { "SF", Bytes(w => { w.Write(7L); w.Write(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F }); }) },
            { "SF", Bytes(w => { w.Write(7L); w.Write(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }); }) },
            { "TS", Bytes(w => { w.Write(1L); w.Write(1L); w.Write(0); w.Write(0); w.Write(false); w.Write(-1L); w.Write(1); w.Write(65536); w.Write(65536); w.Write(0); w.Write(1); w.Write(0); w.Write(false); }) },
        };
    }

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task Should_drop_only_the_bad_message_and_deliver_the_next_one_over_the_same_association(string manifest, byte[] frame)
    {
        var inbox = new BlockingCollection<object>();
        receiver.ActorOf(Props.Create(() => new Sink(inbox)), "sink");
        var lost = new BlockingCollection<object>();
        var watcher = receiver.ActorOf(Props.Create(() => new Sink(lost)), "association-watcher");
        receiver.EventStream.Subscribe(watcher, typeof(DisassociatedEvent));
        var address = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
        var sink = await sender.ActorSelection($"{address}/user/sink").ResolveOne(Wait);

        sink.Tell(new StepFailed(1, "student-1", "before"));
        Assert.True(inbox.TryTake(out var first, Wait), "the association does not carry a good message");
        Assert.Equal(new StepFailed(1, "student-1", "before"), first);

        sink.Tell(new Poisoned(manifest, frame));
        sink.Tell(new StepFailed(2, "student-1", "after"));

        Assert.True(inbox.TryTake(out var next, Wait), "the good message after the bad frame never arrived");
        Assert.Equal(new StepFailed(2, "student-1", "after"), next);
        Assert.Empty(inbox);
        Assert.Empty(lost); // the association was never torn down
    }

    /// <summary>
    /// The frame holds Akka's envelope as well as the message: a message of the frame less 16 bytes passed the coordinator's start-up
    /// check and is dropped by the transport; one of the frame less <see cref="WireLimits.EnvelopeBytes"/> crosses.
    /// </summary>
    [Fact]
    public async Task Should_carry_a_message_of_the_frame_less_the_envelope_room_and_drop_one_that_leaves_the_envelope_no_room()
    {
        const int frame = 1048576;
        var inbox = new BlockingCollection<object>();
        receiver.ActorOf(Props.Create(() => new Sink(inbox)), "sink");
        var address = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
        var sink = await sender.ActorSelection($"{address}/user/sink").ResolveOne(Wait);
        var serializer = sender.Serialization.FindSerializerForType(typeof(WeightsChunk));
        WeightsChunk Sized(int bytes, int index)
        {
            int empty = serializer.ToBinary(new WeightsChunk(1, "student-1", index, 3, [])).Length;
            var chunk = new WeightsChunk(1, "student-1", index, 3, new byte[bytes - empty]);
            Assert.Equal(bytes, serializer.ToBinary(chunk).Length);
            return chunk;
        }

        sink.Tell(Sized(frame - 16, 0));
        sink.Tell(Sized(frame - WireLimits.EnvelopeBytes, 1));
        sink.Tell(new StepFailed(2, "student-1", "after"));

        Assert.True(inbox.TryTake(out var first, Wait), "nothing arrived");
        Assert.Equal(1, Assert.IsType<WeightsChunk>(first).Index); // the chunk of the frame less 16 bytes was dropped
        Assert.True(inbox.TryTake(out var next, Wait), "the message after the dropped one never arrived");
        Assert.Equal(new StepFailed(2, "student-1", "after"), next);
    }
}
