using P2PDistill.Shared.Hosting;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
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
        Assert.Null(back.Batch.Boxes);
    }

    [Fact]
    public void Should_round_trip_a_fold_of_a_students_targets_and_the_next_batch()
    {
        var batch = new ImageBatch(new ImageShape(1, 2, 2), [9, 8, 7, 6, 5, 4, 3, 2], [1, 0]);
        var targets = new DistillTargets([1f, 2f, 3f, 4f], [0.25f, 0.75f, 0.5f, 0.5f], [-0.1f, -0.2f], 2);
        var back = RoundTrip(new ApplyAndTrain(new ApplyTargets(6, targets, 11), new TrainStep(7, 0, 6, batch, 12)), typeof(StepMessageSerializer));

        Assert.Equal((6L, 11L), (back.Apply.GlobalStep, back.Apply.Attempt));
        Assert.Equal(targets.TeacherLogits, back.Apply.Targets.TeacherLogits);
        Assert.Equal(targets.PeerProbSum, back.Apply.Targets.PeerProbSum);
        Assert.Equal(targets.PeerNegEntropySum, back.Apply.Targets.PeerNegEntropySum);
        Assert.Equal(2, back.Apply.Targets.Peers);
        var next = Assert.IsType<TrainStep>(back.Next);
        Assert.Equal((7L, 6, 12L, false), (next.GlobalStep, next.Step, next.Attempt, next.WholeStep));
        Assert.Equal(batch.Pixels, next.Batch.Pixels);
        Assert.Equal(batch.Labels, next.Batch.Labels);

        var local = RoundTrip(new ApplyAndTrain(new ApplyTargets(6, DistillTargets.None, 11), new TrainStepLocal(7, 1, 2, 12)), typeof(StepMessageSerializer));
        Assert.Equal(new TrainStepLocal(7, 1, 2, 12), local.Next);
    }

    [Fact]
    public void Should_round_trip_the_teachers_whole_step_flag()
    {
        var batch = new ImageBatch(new ImageShape(1, 1, 2), [1, 2], [0]);
        Assert.True(RoundTrip(new TrainStep(3, 0, 2, batch, 4, WholeStep: true), typeof(StepMessageSerializer)).WholeStep);
        Assert.Equal(new TrainStepLocal(3, 0, 2, 4, WholeStep: true), RoundTrip(new TrainStepLocal(3, 0, 2, 4, WholeStep: true), typeof(StepMessageSerializer)));
    }

    [Fact]
    public void Should_make_the_bytes_of_a_batch_sent_to_every_model_once()
    {
        var batch = new ImageBatch(new ImageShape(1, 28, 28), new byte[4 * 784], new int[4]);
        var step = new TrainStep(1, 0, 0, batch, 1);
        var serializer = system.Serialization.FindSerializerFor(step);

        var first = serializer.ToBinary(step);
        Assert.Same(first, serializer.ToBinary(step)); // the second recipient gets the same bytes
        Assert.NotSame(first, serializer.ToBinary(step with { Attempt = 2 })); // another message is encoded anew
        Assert.Equal(first.Length, serializer.ToBinary(new TrainStep(1, 0, 0, batch, 1)).Length);

        // Inside a fold the batch's bytes are the same ones: the fold is the targets' bytes followed by them.
        var fold = serializer.ToBinary(new ApplyAndTrain(new ApplyTargets(1, DistillTargets.None, 1), step));
        Assert.Equal(first, fold.AsSpan(fold.Length - first.Length).ToArray());
    }

    /// <summary>Three images: two boxes, none (a background image), one box; the corners are not whole numbers.</summary>
    private static ImageBatch DetectionBatch()
    {
        Box[][] boxes =
        [
            [new Box(1, 0.5f, 1.25f, 30.75f, 40f), new Box(0, 10f, 12.5f, 63.9f, 64f)],
            [],
            [new Box(1, 2f, 3f, 4.5f, 5.5f)],
        ];
        var pixels = Enumerable.Range(0, 3 * 3 * 4 * 4).Select(i => (byte)(i * 7)).ToArray();
        return new ImageBatch(new ImageShape(3, 4, 4), pixels, new int[3]) { Boxes = BoxCodec.Encode(boxes) };
    }

    [Fact]
    public void Should_round_trip_a_train_step_with_its_boxes_including_an_image_without_any()
    {
        var batch = DetectionBatch();

        var back = RoundTrip(new TrainStep(7, 1, 3, batch, Attempt: 12), typeof(StepMessageSerializer));

        Assert.Equal((7L, 1, 3, 12L), (back.GlobalStep, back.Epoch, back.Step, back.Attempt));
        Assert.Equal(batch.Shape, back.Batch.Shape);
        Assert.Equal(batch.Pixels, back.Batch.Pixels);
        Assert.Equal(batch.Labels, back.Batch.Labels);
        Assert.Equal(batch.Boxes, back.Batch.Boxes);
        var decoded = BoxCodec.Decode(back.Batch.Boxes!, 3);
        Assert.Equal(new[] { 2, 0, 1 }, decoded.Select(b => b.Length));
        Assert.Equal(new Box(0, 10f, 12.5f, 63.9f, 64f), decoded[0][1]);
    }

    [Fact]
    public void Should_round_trip_an_evaluation_batch_with_its_boxes()
    {
        var batch = DetectionBatch();

        var back = RoundTrip(new EvaluateBatch(5, 2, batch), typeof(StepMessageSerializer));

        Assert.Equal((5L, 2), (back.EvalId, back.Index));
        Assert.Equal(batch.Pixels, back.Batch.Pixels);
        Assert.Equal(batch.Boxes, back.Batch.Boxes);
    }

    [Fact]
    public void Should_round_trip_a_batch_whose_images_all_have_no_boxes()
    {
        var batch = new ImageBatch(new ImageShape(1, 2, 2), new byte[8], new int[2]) { Boxes = [0, 0] };

        var back = RoundTrip(new TrainStep(1, 0, 0, batch), typeof(StepMessageSerializer));

        Assert.Equal(new float[] { 0, 0 }, back.Batch.Boxes);
    }

    /// <summary>Where the box array's length sits in a serialised <see cref="TrainStep"/>: header (with the whole-step flag and the steps counted), shape, pixels, labels, presence flag.</summary>
    private static int BoxLengthOffset(ImageBatch batch) => 8 + 8 + 4 + 4 + 1 + 8 + 12 + 4 + batch.Pixels.Length + 4 + 4 * batch.Count + 1;

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    [InlineData(1 << 20)]
    public void Should_refuse_a_box_length_that_is_negative_or_larger_than_the_frame(int length)
    {
        var batch = DetectionBatch();
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(new TrainStep(0, 0, 0, batch));
        var bytes = serializer.ToBinary(new TrainStep(0, 0, 0, batch));
        int offset = BoxLengthOffset(batch);
        Assert.Equal(batch.Boxes!.Length, BitConverter.ToInt32(bytes, offset)); // the offset is right: the test tampers with the length itself

        BitConverter.TryWriteBytes(bytes.AsSpan(offset), length);

        var e = Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "TS"));
        Assert.Contains($"array length {length}", e.Message);
    }

    [Fact]
    public void Should_refuse_a_box_length_one_float_past_the_end_of_the_frame()
    {
        var batch = DetectionBatch();
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(new TrainStep(0, 0, 0, batch));
        var bytes = serializer.ToBinary(new TrainStep(0, 0, 0, batch));
        BitConverter.TryWriteBytes(bytes.AsSpan(BoxLengthOffset(batch)), batch.Boxes!.Length + 1);

        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "TS"));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(new TrainStep(0, 0, 0, batch))[..^4], "TS"));
    }

    [Fact]
    public void Should_refuse_boxes_that_do_not_encode_one_list_per_image()
    {
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(new TrainStep(0, 0, 0, DetectionBatch()));
        var two = new ImageBatch(new ImageShape(1, 1, 1), new byte[2], new int[2]);
        float[][] wrong =
        [
            [0], // one image's count for two images
            [0, 0, 0], // three images
            [0, 1, 0, 1, 1, 2], // the second image announces a box with only four floats after it
            [0.5f, 0], // a count that is not a whole number
        ];
        foreach (var boxes in wrong)
        {
            var bytes = serializer.ToBinary(new TrainStep(0, 0, 0, two with { Boxes = boxes }));
            var e = Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "TS"));
            Assert.StartsWith("TS: Box encoding", e.Message);
        }
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(new EvaluateBatch(0, 0, two with { Boxes = [1] })), "EB"));
    }

    [Fact]
    public void Should_round_trip_detection_shaped_targets_and_maps()
    {
        var task = new DetectionTask(new DetectionLayout(2, 32, 32));
        int batch = 2, values = batch * task.OutputsPerImage;
        var random = new Random(11);
        float[] Map() => Enumerable.Range(0, values).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        var teacher = Map();
        var students = new[] { Map(), Map(), Map() };
        var targets = task.Targets(teacher, students, batch, new DistillationSettings(DistillMode.KdMl));
        // Per location: the teacher's map and the peers' sums are map rows, the scalars three floats (DetectionTask's layout).
        int locations = batch * task.Layout.Locations;
        Assert.Equal((values, values, 3 * locations, 2), (targets[1].TeacherLogits!.Length, targets[1].PeerProbSum!.Length, targets[1].PeerNegEntropySum!.Length, targets[1].Peers));

        var back = RoundTrip(new ApplyTargets(4, targets[1], Attempt: 9), typeof(StepMessageSerializer));

        Assert.Equal(targets[1].TeacherLogits, back.Targets.TeacherLogits);
        Assert.Equal(targets[1].PeerProbSum, back.Targets.PeerProbSum);
        Assert.Equal(targets[1].PeerNegEntropySum, back.Targets.PeerNegEntropySum);
        Assert.Equal((2, 9L), (back.Targets.Peers, back.Attempt));

        var logits = RoundTrip(new StepLogits(4, "student-1", batch, task.OutputsPerImage, students[0], 1.5), typeof(StepMessageSerializer));
        Assert.Equal(students[0], logits.Logits);
        var probabilities = RoundTrip(new EvalProbabilities(3, 0, "student-1", batch, task.OutputsPerImage, teacher), typeof(StepMessageSerializer));
        Assert.Equal(teacher, probabilities.Probabilities);
    }

    [Fact]
    public void Should_state_an_upper_bound_within_64_bytes_for_every_step_message_with_or_without_boxes()
    {
        var task = new DetectionTask(new DetectionLayout(2, 32, 32));
        int values = 2 * task.OutputsPerImage;
        var targets = task.Targets(new float[values], [new float[values], new float[values]], 2, new DistillationSettings(DistillMode.KdMl))[0];
        var plain = new ImageBatch(new ImageShape(1, 2, 2), new byte[12], new int[3]);
        object[] messages =
        [
            new TrainStep(1, 0, 0, DetectionBatch()), new TrainStep(1, 0, 0, plain), new EvaluateBatch(1, 0, DetectionBatch()), new EvaluateBatch(1, 0, plain),
            new ApplyTargets(1, targets), new ApplyTargets(1, DistillTargets.None), new StepLogits(1, "student-12", 2, task.OutputsPerImage, new float[values], 0),
            new EvalProbabilities(1, 0, "student-12", 2, task.OutputsPerImage, new float[values]),
        ];
        foreach (var message in messages)
        {
            var actual = system.Serialization.FindSerializerFor(message).ToBinary(message).Length;
            Assert.InRange(StepMessageSerializer.WireSize(message), actual, actual + 64);
        }
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
    public void Should_send_the_control_messages_with_the_control_serializer()
    {
        var register = new RegisterModel("akka.tcp://p2pdistill@10.0.0.2:4053", ModelRole.Student, "cnn-student", 1, 28, 28, 10, 32L << 20);
        Assert.Equal(register, RoundTrip(register, typeof(ControlMessageSerializer)));
        var refused = new RegistrationRefused("classes 3 != dataset's 10");
        Assert.Equal(refused, RoundTrip(refused, typeof(ControlMessageSerializer)));
    }

    /// <summary>A project-marked message type that is not on the control allow-list (it is not in the Shared assembly), carrying a foreign payload.</summary>
    public sealed record Smuggled(object Payload) : IP2PDistillMessage;

    [Fact]
    public void Should_refuse_to_deserialize_types_that_are_not_allow_listed()
    {
        var message = new Smuggled(new Uri("http://example.invalid/"));
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(message);
        Assert.IsType<ControlMessageSerializer>(serializer);
        // Our side refuses to send it ...
        Assert.Throws<SerializationException>(() => serializer.ToBinary(message));
        // ... and refuses a frame that names it, or names any type by its full name, when a foreign sender sends one anyway.
        var json = "{\"Payload\":\"http://example.invalid/\"}"u8.ToArray();
        foreach (var manifest in new[] { nameof(Smuggled), typeof(Smuggled).AssemblyQualifiedName!, typeof(Uri).AssemblyQualifiedName!, "System.Diagnostics.Process, System" })
        {
            var e = Assert.Throws<SerializationException>(() => serializer.FromBinary(json, manifest));
            Assert.Contains("allow-list", e.Message);
        }
        // A frame of an allow-listed type cannot name what it holds: JSON type metadata is not read as a type.
        var refused = "{\"$type\":\"System.Diagnostics.Process, System\",\"Reason\":\"x\"}"u8.ToArray();
        Assert.Equal(new RegistrationRefused("x"), serializer.FromBinary(refused, nameof(RegistrationRefused)));
    }

    [Fact]
    public void Should_refuse_control_frames_that_miss_a_field_carry_a_null_or_an_unnamed_enum_value()
    {
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(GetParameters.Instance);
        Assert.Throws<SerializationException>(() => serializer.FromBinary("{}"u8.ToArray(), nameof(RegistrationRefused)));
        Assert.Throws<SerializationException>(() => serializer.FromBinary("{\"Reason\":null}"u8.ToArray(), nameof(RegistrationRefused)));
        Assert.Throws<SerializationException>(() => serializer.FromBinary("null"u8.ToArray(), nameof(RegistrationRefused)));
        var register = serializer.ToBinary(new RegisterModel("a", ModelRole.Student, "cnn-student", 1, 28, 28, 10, 32L << 20));
        var text = System.Text.Encoding.UTF8.GetString(register);
        Assert.Contains("\"Student\"", text);
        Assert.Throws<SerializationException>(() => serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes(text.Replace("\"Student\"", "7")), nameof(RegisterModel)));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes(text.Replace("\"Student\"", "\"Root\"")), nameof(RegisterModel)));
        Assert.Equal(ModelRole.Student, ((RegisterModel)serializer.FromBinary(register, nameof(RegisterModel))).Role);
        // a registration without the node's frame is refused, not read as a frame of 0
        Assert.Contains(",\"FrameBytes\":33554432", text);
        Assert.Throws<SerializationException>(() => serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes(text.Replace(",\"FrameBytes\":33554432", "")), nameof(RegisterModel)));
        // a diverged model's parameters still cross
        var nan = (ModelParameters)serializer.FromBinary(serializer.ToBinary(new ModelParameters("s", 1, [float.NaN, 1])), nameof(ModelParameters));
        Assert.True(float.IsNaN(nan.Values[0]));
    }

    [Fact]
    public void Should_round_trip_the_registration_acceptance_with_everything_it_carries()
    {
        var setup = new TrainerSetup("student-2", ModelRole.Student, "cnn-student", new P2PDistill.Shared.Models.ModelSpec(1, 28, 28, 10),
            new OptimizerOptions { Name = OptimizerKind.Sgd, LearningRate = 0.05 }, new P2PDistill.Shared.Losses.DistillationSettings(P2PDistill.Shared.Losses.DistillMode.Kd, TemperatureKd: 4),
            Normalization.FashionMnist, 77, 468, 936);
        var local = new LocalData(new DataOptions { Dataset = "synthetic", Mode = DataMode.Local }, new TrainingOptions { BatchSize = 64, Temperature = 2 }, "abc");
        var back = RoundTrip(new RegistrationAccepted(2, setup, local), typeof(ControlMessageSerializer));
        Assert.Equal(setup.Id, back.Setup.Id);
        Assert.Equal(setup.Distillation, back.Setup.Distillation);
        Assert.Equal(0.05, back.Setup.Optimizer.LearningRate);
        Assert.Equal(setup.Normalization.Mean, back.Setup.Normalization.Mean);
        Assert.Equal(64, back.Local!.Training.BatchSize);
        Assert.Equal(2, back.Local.Training.Temperature);
        Assert.Equal(DataMode.Local, back.Local.Data.Mode);
        Assert.Equal(TaskKind.Classification, back.Setup.Task);
    }

    [Fact]
    public void Should_carry_the_detection_task_to_the_node_in_the_registration_acceptance()
    {
        var setup = new TrainerSetup("student-1", ModelRole.Student, "det-student", new P2PDistill.Shared.Models.ModelSpec(3, 64, 64, 2),
            new OptimizerOptions(), new DistillationSettings(), Normalization.Identity(3), 5, 10, 20) { Task = TaskKind.Detection };
        var local = new LocalData(new DataOptions { Mode = DataMode.Local }, new TrainingOptions { Task = TaskKind.Detection }, "abc");

        var back = RoundTrip(new RegistrationAccepted(1, setup, local), typeof(ControlMessageSerializer));

        Assert.Equal(TaskKind.Detection, back.Setup.Task);
        Assert.Equal(TaskKind.Detection, back.Local!.Training.Task);
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
