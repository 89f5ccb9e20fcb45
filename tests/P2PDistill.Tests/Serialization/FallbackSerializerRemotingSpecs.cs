using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using P2PDistill.Shared.Hosting;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace P2PDistill.Tests.Serialization;

/// <summary>
/// A type the project never allow-listed. Its setter counts the instances a node builds from a frame: code of a type the
/// frame chose, run on the receiving node.
/// </summary>
public sealed class NotAllowListed
{
    public static int BuiltFromFrames;

    private string text = "";

    public string Text
    {
        get => text;
        set
        {
            if (value == "built from a frame") Interlocked.Increment(ref BuiltFromFrames);
            text = value;
        }
    }
}

/// <summary>
/// Akka's reference.conf binds <see cref="object"/> to Newtonsoft JSON (serializer id 1), which reads with
/// <c>TypeNameHandling.All</c> and no binder: the <c>$type</c> in a frame picks the type to build. A node of the project
/// receiving a frame of serializer id 1 must refuse it, whatever type it names; and a message without an explicit binding must
/// fail loudly on send instead of going out as JSON. Over a real association: a sender with Akka's defaults (an attacker, or a
/// node of an older build) and a receiver with the project's wire format.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class FallbackSerializerRemotingSpecs : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private const string Remoting = """
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.loglevel = WARNING
        """;

    private readonly ActorSystem receiver = ActorSystem.Create("receiver", ConfigurationFactory.ParseString(Remoting + "\n" + NodeHocon.WireFormat));

    /// <summary>Akka's defaults: every type without a binding goes out as Newtonsoft JSON with its type name.</summary>
    private readonly ActorSystem sender = ActorSystem.Create("sender", ConfigurationFactory.ParseString(Remoting));

    public void Dispose()
    {
        sender.Terminate().Wait(TimeSpan.FromSeconds(10));
        receiver.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    private sealed class Sink(BlockingCollection<object> inbox) : UntypedActor
    {
        protected override void OnReceive(object message) => inbox.Add(message);
    }

    [Fact]
    public async Task Should_refuse_a_frame_of_akkas_json_serializer_and_fail_loudly_on_sending_a_type_without_a_binding()
    {
        var inbox = new BlockingCollection<object>();
        receiver.ActorOf(Props.Create(() => new Sink(inbox)), "sink");
        var address = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
        var sink = await sender.ActorSelection($"{address}/user/sink").ResolveOne(Wait);
        var message = new NotAllowListed { Text = "built from a frame" };
        Assert.Equal(1, sender.Serialization.FindSerializerFor(message).Identifier); // the sender's JSON fallback
        int built = Volatile.Read(ref NotAllowListed.BuiltFromFrames);

        sink.Tell(message);
        sink.Tell("after"); // Akka.Remote's own string serializer

        Assert.True(inbox.TryTake(out var first, Wait), "nothing arrived over the association");
        Assert.False(first is NotAllowListed, "the receiving node built a NotAllowListed from a frame of serializer id 1 and delivered it");
        Assert.Equal("after", first);
        Assert.Equal(built, Volatile.Read(ref NotAllowListed.BuiltFromFrames));
        Assert.Empty(inbox);

        // On the project's nodes, a type without a binding is refused when sent, not written as JSON.
        var e = Assert.Throws<SerializationException>(() => receiver.Serialization.FindSerializerFor(message).ToBinary(message));
        Assert.Contains(typeof(NotAllowListed).FullName!, e.Message);
    }
}
