using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace P2PDistill.Tests.Serialization;

/// <summary>
/// Issue 16 §1: every length read from the wire is checked before anything is allocated, shape products cannot wrap, and a bad
/// frame fails with a <see cref="SerializationException"/> naming the message and the field (Akka then drops that one message).
/// </summary>
[Trait("Category", "Unit")]
public sealed class WireHardeningSpecs : IDisposable
{
    /// <summary>A node whose remoting frame is 64 KiB.</summary>
    private const int Frame = 64 * 1024;

    private readonly ActorSystem system = ActorSystem.Create("wire-hardening-specs", ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(
        ConfigurationFactory.ParseString(NodeHocon.WireFormat + $"\nakka.remote.dot-netty.tcp.maximum-frame-size = {Frame}b"))));

    public void Dispose() => system.Terminate().Wait(TimeSpan.FromSeconds(10));

    private SerializerWithStringManifest Step => (SerializerWithStringManifest)system.Serialization.FindSerializerForType(typeof(StepFailed));

    private static byte[] Bytes(Action<BinaryWriter> write)
    {
        var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms)) write(w);
        return ms.ToArray();
    }

    /// <summary>A <see cref="TrainStep"/>'s header (global step, attempt, epoch, step, whole-step flag, steps counted).</summary>
    private static void TrainStepHeader(BinaryWriter w)
    {
        w.Write(1L); w.Write(1L); w.Write(0); w.Write(0); w.Write(false); w.Write(-1L);
    }

    [Fact]
    public void Should_refuse_an_image_shape_whose_pixel_count_wraps_around()
    {
        // 1 x 65536 x 65536 is 2^32 pixels: as an int product it wraps to 0, and 2 images of "0 pixels" match 0 pixel bytes.
        var bytes = Bytes(w =>
        {
            TrainStepHeader(w);
            w.Write(1); w.Write(65536); w.Write(65536);
            w.Write(0); // pixels
            w.Write(2); w.Write(0); w.Write(0); // labels
            w.Write(false); // no boxes
        });

        var e = Assert.Throws<SerializationException>(() => Step.FromBinary(bytes, "TS"));
        Assert.Contains("TS", e.Message);
        Assert.Contains("1x65536x65536", e.Message);
    }

    [Theory]
    [InlineData(-1, -2)]
    [InlineData(-2, -1)]
    [InlineData(0, -5)]
    public void Should_refuse_negative_batch_or_class_counts_in_a_reply(int rows, int columns)
    {
        int floats = Math.Abs(rows * columns);
        var logits = Bytes(w =>
        {
            w.Write(1L); w.Write(1L); w.Write("student-1"); w.Write(rows); w.Write(columns);
            w.Write(floats); for (int i = 0; i < floats; i++) w.Write(0f);
            w.Write(1.0);
        });
        var probabilities = Bytes(w =>
        {
            w.Write(1L); w.Write(0); w.Write("student-1"); w.Write(rows); w.Write(columns);
            w.Write(floats); for (int i = 0; i < floats; i++) w.Write(0f);
        });

        Assert.Contains("SL", Assert.Throws<SerializationException>(() => Step.FromBinary(logits, "SL")).Message);
        Assert.Contains("EP", Assert.Throws<SerializationException>(() => Step.FromBinary(probabilities, "EP")).Message);
    }

    /// <summary>String lengths BinaryReader cannot take: -1 (IOException on the old code), a 7-bit integer of 6 bytes (FormatException), past the end.</summary>
    public static TheoryData<byte[]> BadStringLengths() => new()
    {
        new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F },
        new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 },
        new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x07 },
        new byte[] { 0x40, (byte)'a' },
    };

    [Theory]
    [MemberData(nameof(BadStringLengths))]
    public void Should_drop_a_message_with_a_bad_string_length_naming_the_message_and_the_field(byte[] length)
    {
        var bytes = Bytes(w => { w.Write(7L); w.Write(length); });

        var e = Assert.Throws<SerializationException>(() => Step.FromBinary(bytes, "SF"));
        Assert.Contains("SF", e.Message);
        Assert.Contains("ModelId", e.Message);
    }

    [Fact]
    public void Should_refuse_a_negative_label()
    {
        var batch = new ImageBatch(new ImageShape(1, 2, 2), new byte[8], [1, -3]);
        var bytes = Step.ToBinary(new TrainStep(1, 0, 0, batch));

        var e = Assert.Throws<SerializationException>(() => Step.FromBinary(bytes, "TS"));
        Assert.Contains("label", e.Message);
    }

    [Fact]
    public void Should_refuse_boxes_of_more_images_than_the_batch_holds_allocating_about_the_frame_only()
    {
        // One image and 16,000 zero floats as its boxes: read as 16,000 images of no box each. Decoding them all before comparing
        // with the batch's one image built 16,000 arrays and a growing list, about 13 times the frame's bytes.
        var shape = new ImageShape(1, 1, 1);
        var frame = Step.ToBinary(new TrainStep(1, 0, 0, new ImageBatch(shape, new byte[1], [0]) { Boxes = new float[16_000] }));
        Assert.InRange(frame.Length, 64_000, Frame);
        var good = Step.ToBinary(new TrainStep(1, 0, 0, new ImageBatch(shape, new byte[1], [0]) { Boxes = [0f] }));
        Assert.IsType<TrainStep>(Step.FromBinary(good, "TS")); // warm: one image without boxes is fine

        SerializationException? refused = null;
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            Step.FromBinary(frame, "TS");
        }
        catch (SerializationException e)
        {
            refused = e;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.NotNull(refused);
        Assert.Contains("TS", refused.Message);
        Assert.True(allocated <= 2L * frame.Length + 16 * 1024,
            $"refusing a frame of {frame.Length:N0} bytes allocated {allocated:N0} bytes, more than twice the frame");
    }

    [Fact]
    public void Should_refuse_a_frame_larger_than_the_configured_remoting_frame()
    {
        var chunk = new WeightsChunk(1, "student-1", 0, 1, new byte[Frame + 1]);
        var bytes = Step.ToBinary(chunk);

        var e = Assert.Throws<SerializationException>(() => Step.FromBinary(bytes, "WC"));
        Assert.Contains("frame", e.Message);
        var fits = new WeightsChunk(1, "student-1", 0, 1, new byte[Frame / 2]);
        Assert.Equal(fits.Data.Length, ((WeightsChunk)Step.FromBinary(Step.ToBinary(fits), "WC")).Data.Length);
    }

    [Fact]
    public void Should_keep_the_records_that_only_travel_inside_step_messages_off_the_control_allow_list()
    {
        Assert.DoesNotContain(typeof(ImageBatch), AkkaSerialization.ControlTypes);
        Assert.DoesNotContain(typeof(ImageShape), AkkaSerialization.ControlTypes);
        Assert.DoesNotContain(typeof(DistillTargets), AkkaSerialization.ControlTypes);
        Assert.All(AkkaSerialization.ControlTypes, t => Assert.True(typeof(IP2PDistillMessage).IsAssignableFrom(t), t.Name));
    }
}
