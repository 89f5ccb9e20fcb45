using System.Diagnostics;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using Xunit.Abstractions;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace P2PDistill.Tests.Serialization;

/// <summary>
/// Issue 16 §1, the fuzz test: for every message type of both serializers, a valid frame, then random and mutated ones (bit
/// flips, truncations, random bytes, length fields set to 0, -1 and 2^31-1). Each must give a message or a clean
/// <see cref="SerializationException"/>, nothing else, and the step serializer may never allocate more than a small multiple
/// of the frame it reads. Seeded and bounded in time (<see cref="Budget"/>), so it runs in CI.
/// </summary>
/// <remarks>
/// The control messages went through Hyperion until this test's control half was written: on Hyperion it failed at once
/// ("word at 0 set to -1: a frame of 65 bytes allocated 16,779,216 bytes"), because Hyperion sizes strings and arrays from
/// lengths on the wire before it reads them. They now go through <see cref="ControlMessageSerializer"/>.
/// </remarks>
[Trait("Category", "Fault")]
public sealed class WireFuzzSpecs(ITestOutputHelper output) : IDisposable
{
    private const int Frame = 1024 * 1024;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(12);

    private readonly ActorSystem system = ActorSystem.Create("wire-fuzz-specs", ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(
        ConfigurationFactory.ParseString(NodeHocon.WireFormat + $"\nakka.remote.dot-netty.tcp.maximum-frame-size = {Frame}b\nakka.loglevel = ERROR"))));

    public void Dispose() => system.Terminate().Wait(TimeSpan.FromSeconds(10));

    /// <summary>The most a decode may allocate: a few times the frame it reads (a copy of each array, strings as UTF-16, the records).</summary>
    private static long Cap(int frameBytes) => 4L * frameBytes + 64 * 1024;

    private static ImageBatch Batch(bool boxes)
    {
        var pixels = Enumerable.Range(0, 3 * 3 * 4 * 4).Select(i => (byte)i).ToArray();
        var batch = new ImageBatch(new ImageShape(3, 4, 4), pixels, [0, 2, 1]);
        return boxes ? batch with { Boxes = BoxCodec.Encode([[new Box(1, 0.5f, 1, 3, 4)], [], [new Box(0, 1, 1, 2, 2), new Box(1, 0, 0, 4, 4)]]) } : batch;
    }

    /// <summary>At least one valid message of every step manifest.</summary>
    private static object[] StepMessages()
    {
        var targets = new DistillTargets([1, 2, 3, 4, 5, 6], [0.5f, 0.5f, 0.1f, 0.9f, 0.2f, 0.8f], [-0.3f, -0.4f, -0.5f], 2);
        var step = new TrainStep(5, 1, 2, Batch(boxes: false), 9, WholeStep: true, CountedThrough: 3);
        return
        [
            step, new TrainStep(6, 1, 3, Batch(boxes: true), 10),
            new StepLogits(5, "student-1", 3, 2, [1, 2, 3, 4, 5, 6], 1.5, 9),
            new ApplyTargets(5, targets, 9), new ApplyTargets(5, DistillTargets.None, 9),
            new StepDone(5, "teacher", 1, 0.5, 0.25, 0.125, 0.75, 1e-3, true, 12, 9),
            new EvaluateBatch(3, 1, Batch(boxes: true)),
            new EvalProbabilities(3, 1, "student-2", 3, 2, [0.5f, 0.5f, 0.25f, 0.75f, 1, 0]),
            new TrainStepLocal(7, 1, 4, 11, WholeStep: false, CountedThrough: 6),
            new EvaluateLocal(4), new ExportWeights(8, FullState: true),
            new WeightsChunk(8, "student-1", 1, 3, Enumerable.Range(0, 300).Select(i => (byte)i).ToArray()),
            new RestoreChunk("student-1", 0, 2, [1, 2, 3, 4]),
            new StepFailed(9, "student-1", "a forward failed: ünïcode reason"),
            new ApplyAndTrain(new ApplyTargets(5, targets, 9), new TrainStep(6, 1, 3, Batch(boxes: false), 10)),
            new ApplyAndTrain(new ApplyTargets(5, DistillTargets.None, 9), new TrainStepLocal(6, 1, 3, 10)),
        ];
    }

    /// <summary>At least one valid message of every control message type.</summary>
    private static object[] ControlMessages()
    {
        var setup = new TrainerSetup("student-1", ModelRole.Student, "cnn-student", new ModelSpec(1, 28, 28, 10), new OptimizerOptions(),
            new DistillationSettings(DistillMode.KdMl), Normalization.FashionMnist, 77, 468, 936);
        var local = new LocalData(new DataOptions { Dataset = "synthetic", Mode = DataMode.Local }, new TrainingOptions { BatchSize = 64 }, "abc");
        return
        [
            GetParameters.Instance, new ModelParameters("student-1", 12, [1, 2, 3]),
            new RegisterModel("akka.tcp://p2pdistill@10.0.0.2:4053", ModelRole.Student, "cnn-student", 1, 28, 28, 10, 32L << 20),
            new RegistrationAccepted(1, setup), new RegistrationAccepted(2, setup, local, 3, 40),
            new RegistrationRefused("classes 3 != dataset's 10"), new ModelReady("student-1", 1234),
            new DroppedFromCohort("missed the step timeout", 5), new Rewind(4), new TrainingFinished(true, null), new TrainingFinished(false, "stopped", 7),
        ];
    }

    [Fact]
    public void Should_cover_every_message_type_of_both_serializers()
    {
        var step = (SerializerWithStringManifest)system.Serialization.FindSerializerForType(typeof(StepFailed));
        Assert.Equal(["AN", "AT", "EB", "EL", "EP", "EW", "RC", "SD", "SF", "SL", "TL", "TS", "WC"], StepMessages().Select(step.Manifest).Distinct().Order());
        var control = typeof(IP2PDistillMessage).Assembly.GetTypes().Where(t => typeof(IP2PDistillMessage).IsAssignableFrom(t) && t.IsClass);
        Assert.Equal(control.Select(t => t.Name).Order(), ControlMessages().Select(m => m.GetType().Name).Distinct().Order());
        Assert.Equal(control.Select(t => t.Name).Order(), AkkaSerialization.ControlTypes.Select(t => t.Name));
        Assert.IsType<ControlMessageSerializer>(system.Serialization.FindSerializerForType(typeof(RegisterModel)));
    }

    [Fact]
    public void Should_decode_or_cleanly_refuse_every_mutated_step_frame_without_allocating_at_the_frames_word()
    {
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerForType(typeof(StepFailed));
        var stats = Fuzz(StepMessages(), o => (serializer.ToBinary(o), serializer.Manifest(o)), (bytes, manifest) => serializer.FromBinary(bytes, manifest),
            hostileLengths: true, seed: 16);
        output.WriteLine($"step serializer: {stats}");
        Assert.True(stats.Refused > 1000, $"too few frames refused: {stats}");
    }

    [Fact]
    public void Should_decode_or_cleanly_refuse_every_mutated_control_frame_without_allocating_at_the_frames_word()
    {
        var serializer = system.Serialization.FindSerializerForType(typeof(RegisterModel));
        var stats = Fuzz(ControlMessages(), o => (serializer.ToBinary(o), Akka.Serialization.Serialization.ManifestFor(serializer, o)),
            (bytes, manifest) => system.Serialization.Deserialize(bytes, serializer.Identifier, manifest), hostileLengths: true, seed: 17);
        output.WriteLine($"control serializer: {stats}");
        Assert.True(stats.Refused > 1000, $"too few frames refused: {stats}");
    }

    private sealed record Stats(int Frames, int Decoded, int Refused, long MostAllocated)
    {
        public override string ToString() => $"{Frames} frames, {Decoded} decoded, {Refused} refused, at most {MostAllocated:N0} bytes allocated by one decode";
    }

    /// <summary>Runs every mutation of every message's frame until the time budget is spent; fails on any exception but <see cref="SerializationException"/>.</summary>
    private static Stats Fuzz(object[] messages, Func<object, (byte[] Bytes, string Manifest)> encode, Func<byte[], string, object> decode, bool hostileLengths, int seed)
    {
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        int frames = 0, decoded = 0, refused = 0;
        long most = 0;
        var valid = messages.Select(m => (Message: m, Frame: encode(m))).ToList();
        foreach (var (message, (bytes, manifest)) in valid)
            Assert.Equal(message.GetType(), decode(bytes, manifest).GetType()); // each valid frame decodes (and the serializers are warm)

        void Try(byte[] frame, string manifest, string what)
        {
            frames++;
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                decode(frame, manifest);
                decoded++;
            }
            catch (SerializationException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{manifest}, {what}: {e.GetType().Name} instead of a SerializationException: {e.Message}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            most = Math.Max(most, allocated);
            Assert.True(allocated <= Cap(frame.Length), $"{manifest}, {what}: a frame of {frame.Length} bytes allocated {allocated:N0} bytes");
        }

        int[] lengths = hostileLengths ? [0, -1, int.MaxValue] : [];
        do
        {
            foreach (var (_, (bytes, manifest)) in valid)
            {
                for (int cut = 0; cut < bytes.Length; cut += 1 + bytes.Length / 64) Try(bytes[..cut], manifest, $"truncated to {cut} bytes");
                Try([.. bytes, (byte)random.Next(256)], manifest, "one byte appended");
                for (int at = 0; at + 4 <= bytes.Length; at += 1 + random.Next(Math.Max(1, bytes.Length / 48)))
                    foreach (int length in lengths)
                    {
                        var mutated = (byte[])bytes.Clone();
                        BitConverter.TryWriteBytes(mutated.AsSpan(at), length);
                        Try(mutated, manifest, $"word at {at} set to {length}");
                    }
                if (!hostileLengths) continue;
                for (int i = 0; i < 16; i++)
                {
                    var flipped = (byte[])bytes.Clone();
                    for (int flips = 1 + random.Next(4); flips > 0; flips--) flipped[random.Next(flipped.Length)] ^= (byte)(1 << random.Next(8));
                    Try(flipped, manifest, "bits flipped");
                    var noise = new byte[random.Next(64)];
                    random.NextBytes(noise);
                    Try(noise, manifest, $"{noise.Length} random bytes");
                    var spliced = (byte[])bytes.Clone();
                    int from = random.Next(bytes.Length), span = Math.Min(1 + random.Next(8), bytes.Length - from);
                    random.NextBytes(spliced.AsSpan(from, span));
                    Try(spliced, manifest, $"{span} bytes at {from} randomised");
                }
            }
        }
        while (clock.Elapsed < Budget && hostileLengths);
        return new Stats(frames, decoded, refused, most);
    }
}
