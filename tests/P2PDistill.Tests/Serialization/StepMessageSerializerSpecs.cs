using P2PDistill.Shared.Hosting;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace P2PDistill.Tests.Serialization;

[Trait("Category", "Unit")]
public sealed class StepMessageSerializerSpecs : IDisposable
{
    private readonly ActorSystem system = ActorSystem.Create("serialization-specs",
        ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString(NodeHocon.WireFormat))));

    public void Dispose() => system.Terminate().Wait(TimeSpan.FromSeconds(10));

    private T RoundTrip<T>(T message, Type expectedSerializer)
    {
        var serializer = system.Serialization.FindSerializerFor(message);
        Assert.IsType(expectedSerializer, serializer);
        var bytes = serializer.ToBinary(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        return (T)system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
    }

    [Fact]
    public void Should_round_trip_a_batch()
    {
        var batch = new ImageBatch(new ImageShape(1, 2, 3), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 7]);
        var back = RoundTrip(new TrainStep(41, 2, 5, batch), typeof(StepMessageSerializer));
        Assert.Equal((41L, 2, 5), (back.GlobalStep, back.Epoch, back.Step));
        Assert.Equal(batch.Shape, back.Batch.Shape);
        Assert.Equal(batch.Pixels, back.Batch.Pixels);
        Assert.Equal(batch.Labels, back.Batch.Labels);
    }

    [Fact]
    public void Should_round_trip_logits_targets_and_results()
    {
        var logits = RoundTrip(new StepLogits(9, "student-2", 2, 3, [1, -2, 3.5f, 0, float.MinValue, 7], 12.5), typeof(StepMessageSerializer));
        Assert.Equal(new float[] { 1, -2, 3.5f, 0, float.MinValue, 7 }, logits.Logits);
        Assert.Equal(("student-2", 2, 3, 12.5), (logits.ModelId, logits.BatchSize, logits.Classes, logits.ComputeMs));

        var targets = RoundTrip(new ApplyTargets(9, new DistillTargets([1, 2], null, [0.5f], 3)), typeof(StepMessageSerializer));
        Assert.Equal(new float[] { 1, 2 }, targets.Targets.TeacherLogits);
        Assert.Null(targets.Targets.PeerProbSum);
        Assert.Equal(new float[] { 0.5f }, targets.Targets.PeerNegEntropySum);
        Assert.Equal(3, targets.Targets.Peers);

        var done = new StepDone(9, "teacher", 1.5, 1.5, 0, 0, 0.75, 1e-3, true, 33);
        Assert.Equal(done, RoundTrip(done, typeof(StepMessageSerializer)));
    }

    [Fact]
    public void Should_send_other_project_messages_with_hyperion()
    {
        var register = new RegisterModel("akka.tcp://p2pdistill@10.0.0.2:4053", ModelRole.Student, "cnn-student", 1, 28, 28, 10);
        Assert.Equal(register, RoundTrip(register, typeof(AllowListHyperionSerializer)));
        var refused = new RegistrationRefused("classes 3 != dataset's 10");
        Assert.Equal(refused, RoundTrip(refused, typeof(AllowListHyperionSerializer)));
    }

    /// <summary>A project-marked message type that is not on Hyperion's allow-list, carrying a foreign payload.</summary>
    public sealed record Smuggled(object Payload) : IP2PDistillMessage;

    [Fact]
    public void Should_refuse_to_deserialize_types_that_are_not_allow_listed()
    {
        var message = new Smuggled(new Uri("http://example.invalid/"));
        var serializer = system.Serialization.FindSerializerFor(message);
        Assert.IsType<AllowListHyperionSerializer>(serializer);
        // Our side refuses to send it ...
        Assert.ThrowsAny<Exception>(() => serializer.ToBinary(message));
        // ... and refuses it when a foreign sender (plain Hyperion, same wire settings) sends it anyway.
        using var ms = new MemoryStream();
        new Hyperion.Serializer(new Hyperion.SerializerOptions(true, false, null, null, null, false, [], false, Hyperion.DisabledTypeFilter.Instance)).Serialize(message, ms);
        var e = Assert.ThrowsAny<Exception>(() => serializer.FromBinary(ms.ToArray(), typeof(Smuggled)));
        Assert.Contains("Unsafe Type Deserialization Detected", e.ToString());
        Assert.Contains("Smuggled", e.ToString());
    }

    [Fact]
    public void Should_round_trip_the_registration_acceptance_with_everything_it_carries()
    {
        var setup = new TrainerSetup("student-2", ModelRole.Student, "cnn-student", new P2PDistill.Shared.Models.ModelSpec(1, 28, 28, 10),
            new OptimizerOptions { Name = OptimizerKind.Sgd, LearningRate = 0.05 }, new P2PDistill.Shared.Losses.DistillationSettings(P2PDistill.Shared.Losses.DistillMode.Kd, TemperatureKd: 4),
            Normalization.FashionMnist, 77, 468, 936);
        var local = new LocalData(new DataOptions { Dataset = "synthetic", Mode = DataMode.Local }, new TrainingOptions { BatchSize = 64, Temperature = 2 }, "abc");
        var back = RoundTrip(new RegistrationAccepted(2, setup, local), typeof(AllowListHyperionSerializer));
        Assert.Equal(setup.Id, back.Setup.Id);
        Assert.Equal(setup.Distillation, back.Setup.Distillation);
        Assert.Equal(0.05, back.Setup.Optimizer.LearningRate);
        Assert.Equal(setup.Normalization.Mean, back.Setup.Normalization.Mean);
        Assert.Equal(64, back.Local!.Training.BatchSize);
        Assert.Equal(2, back.Local.Training.Temperature);
        Assert.Equal(DataMode.Local, back.Local.Data.Mode);
    }

    [Fact]
    public void Should_refuse_truncated_and_inconsistent_frames()
    {
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(new StepLogits(1, "a", 1, 2, [1, 2], 0));
        var bytes = serializer.ToBinary(new StepLogits(1, "a", 1, 2, [1, 2], 0));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes[..^3], "SL"));
        Assert.Throws<SerializationException>(() => serializer.FromBinary([.. bytes, 0], "SL"));
        var lying = serializer.ToBinary(new StepLogits(1, "a", 5, 2, [1, 2], 0));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(lying, "SL"));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "XX"));
    }

    [Fact]
    public void Should_keep_the_batch_message_close_to_its_raw_size()
    {
        var batch = new ImageBatch(new ImageShape(1, 28, 28), new byte[128 * 784], new int[128]);
        var serializer = system.Serialization.FindSerializerFor(new TrainStep(0, 0, 0, batch));
        var size = serializer.ToBinary(new TrainStep(0, 0, 0, batch)).Length;
        Assert.InRange(size, 128 * 784 + 128 * 4, 128 * 784 + 128 * 4 + 64);
    }
}
