using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Microsoft.Extensions.Options;
using P2PDistill.Coordinator.Hosting;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Coordinator;

/// <summary>The remoting frame is sized from the task's largest step message: batches with their boxes, outputs, targets.</summary>
[Trait("Category", "Unit")]
public sealed class FrameSizingSpecs : IDisposable
{
    private readonly ActorSystem system = ActorSystem.Create("frame-sizing-specs",
        ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString(NodeHocon.WireFormat))));

    public void Dispose() => system.Terminate().Wait(TimeSpan.FromSeconds(10));

    private int Serialized(object message) => system.Serialization.FindSerializerFor(message).ToBinary(message).Length;

    private static TrainingPlan DetectionPlan(int batch, IDetectionDataset? test = null)
    {
        var splits = SyntheticDetectionDataset.Load(64, 16, 64, 3, seed: 5);
        if (test is not null) splits = splits with { Test = test };
        var training = new TrainingOptions
        {
            Task = TaskKind.Detection, TeacherModel = "det-student", StudentModel = "det-student", Students = 2, BatchSize = batch, Seed = 3,
        };
        var data = new DataOptions { Dataset = "synthetic-detection", CropPadding = 4, HorizontalFlip = true };
        return new TrainingPlan(training, data, splits.ToDatasetSplits(), Normalization.Identity(3), new OptimizerOptions());
    }

    [Fact]
    public void Should_size_a_classification_run_from_a_students_targets_folded_with_the_next_batch()
    {
        var data = TestCohorts.SyntheticData(train: 64, test: 16, classes: 10);
        var plan = new TrainingPlan(TestCohorts.Options(batch: 32), data, TestCohorts.Load(data), Normalization.Identity(1), new OptimizerOptions());

        var largest = CoordinatorRun.LargestMessageBytes(plan);

        // The one-round-trip fold: a student's targets (teacher logits, peers' sums) travel with the next batch, the pixels
        // and labels of 32 images of 1x28x28; each part has its 64 bytes of slack.
        long batchBytes = 64 + 32 * 784 + 4 * 32;
        Assert.Equal(StepMessageSerializer.WireSize(new TrainStep(1, 0, 0, plan.TrainBatch(0, 0))), batchBytes);
        Assert.Equal(batchBytes + StepMessageSerializer.TargetsMessageSize(plan.Task.TargetFloatsBound(32)), largest);
        var rng = new Random(3);
        float[] Logits() => Enumerable.Range(0, 32 * 10).Select(_ => (float)rng.NextDouble()).ToArray();
        var targets = plan.Task.Targets(Logits(), [Logits(), Logits()], 32, plan.Training.Distillation);
        var fold = new ApplyAndTrain(new ApplyTargets(1, targets[0], 1), new TrainStep(2, 0, 1, plan.TrainBatch(0, 1), 2));
        Assert.InRange(Serialized(fold), batchBytes, largest);
    }

    [Fact]
    public void Should_size_a_detection_run_from_a_students_targets_which_outgrow_the_dense_map_and_the_batch()
    {
        const int batch = 16;
        var plan = DetectionPlan(batch);
        var task = plan.Task;
        Assert.Equal(80 * (2 + 4 * 8), task.OutputsPerImage); // 2 synthetic classes at 64x64: L = 64 + 16 locations of C + 4B values

        var largest = CoordinatorRun.LargestMessageBytes(plan);

        // A real step's messages: the batch with its boxes to every model, each model's map, a student's targets.
        var rng = new Random(2);
        float[] Map() => Enumerable.Range(0, batch * task.OutputsPerImage).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
        var maps = new[] { Map(), Map(), Map() };
        var targets = task.Targets(maps[0], maps[1..], batch, plan.Training.Distillation);
        var apply = new ApplyTargets(1, targets[0]);
        var logits = new StepLogits(1, "student-1", batch, task.OutputsPerImage, maps[1], 0);
        long trainBatch = StepMessageSerializer.BatchMessageSize(plan.Splits.Shape, batch, task.BoxFloatsBound(plan.Splits.Train, batch));
        Assert.Equal(StepMessageSerializer.WireSize(apply) + trainBatch, largest); // the fold: targets with the next batch
        Assert.True(Serialized(apply) <= largest);
        Assert.True(Serialized(new ApplyAndTrain(apply, new TrainStep(2, 0, 1, plan.TrainBatch(0, 1)))) <= largest);
        Assert.True(Serialized(logits) < largest, "the dense map is smaller than the targets, which carry it and the peers' sums");
        Assert.True(Serialized(new EvalProbabilities(1, 0, "student-1", batch, task.OutputsPerImage, maps[1])) < largest);
        for (int step = 0; step < plan.StepsPerEpoch; step++)
            Assert.True(Serialized(new TrainStep(step, 0, step, plan.TrainBatch(0, step))) < largest);
        Assert.All(plan.EvaluationBatches(), b => Assert.True(Serialized(new EvaluateBatch(1, 0, b)) < largest));
    }

    [Fact]
    public void Should_bound_the_boxes_of_a_batch_by_the_most_crowded_image_of_the_split()
    {
        var shape = new ImageShape(3, 64, 64);
        Box[] Crowd(int n) => Enumerable.Range(0, n).Select(i => new Box(i % 2, i, i, i + 5, i + 5)).ToArray();
        Box[][] boxes = [Crowd(1), [], Crowd(9), Crowd(2)];
        var crowded = new InMemoryDetectionDataset("crowded", shape, ["a", "b"], boxes.Select(_ => new byte[shape.Pixels]).ToArray(), boxes);
        var task = new DetectionTask(new DetectionLayout(2, 64, 64));

        Assert.Equal(4 * (1 + 5 * 9), task.BoxFloatsBound(crowded, 4));
        var all = task.Batch(crowded, [0, 1, 2, 3], AugmentOptions.None, 0, 0, 0);
        Assert.Equal(4 + 5 * 12, all.Boxes!.Length);
        Assert.True(all.Boxes.Length <= task.BoxFloatsBound(crowded, 4));
        Assert.Null(new ClassificationTask(10).BoxFloatsBound(crowded, 4));
        Assert.Throws<ArgumentException>(() => task.BoxFloatsBound(TestCohorts.Load(TestCohorts.SyntheticData(train: 8, test: 8)).Train, 4));
    }

    [Fact]
    public void Should_count_every_split_evaluated_when_sizing_the_batch_messages()
    {
        var shape = new ImageShape(3, 64, 64);
        Box[] many = Enumerable.Range(0, 40).Select(i => new Box(0, i, 0, i + 1, 1)).ToArray();
        var test = new InMemoryDetectionDataset("crowded-test", shape, ["sessile", "pedunculated"], [new byte[shape.Pixels], new byte[shape.Pixels]], [many, many]);
        var plan = DetectionPlan(batch: 2, test);

        var batches = new[] { plan.Splits.Train, plan.Splits.Test }
            .Select(split => StepMessageSerializer.BatchMessageSize(shape, 2, plan.Task.BoxFloatsBound(split, 2))).ToArray();

        Assert.True(batches[1] > batches[0], "the crowded test split needs the larger evaluation batch");
        var evaluation = new EvaluateBatch(1, 0, plan.EvaluationBatches().First());
        Assert.InRange(Serialized(evaluation), batches[0] + 1, batches[1]);
        Assert.True(CoordinatorRun.LargestMessageBytes(plan) >= batches[1]);
    }

    [Fact]
    public void Should_count_the_bytes_of_a_detection_step_as_the_coordinator_does()
    {
        // Batch 16 of 3x64x64 with 2 classes (the synthetic polyps), teacher + 2 students, kd-ml: what the coordinator adds up per step.
        var task = new DetectionTask(new DetectionLayout(2, 64, 64));
        const int batch = 16;
        int values = batch * task.OutputsPerImage;
        Assert.Equal(16 * 80 * 34, values);
        var students = new[] { new float[values], new float[values] };
        var targets = task.Targets(new float[values], students, batch, new DistillationSettings(DistillMode.KdMl));

        long logits = StepMessageSerializer.WireSize(new StepLogits(1, "teacher", batch, task.OutputsPerImage, new float[values], 0))
                      + 2 * StepMessageSerializer.WireSize(new StepLogits(1, "student-1", batch, task.OutputsPerImage, new float[values], 0));
        long apply = StepMessageSerializer.WireSize(new ApplyTargets(1, DistillTargets.None))
                     + targets.Sum(t => StepMessageSerializer.WireSize(new ApplyTargets(1, t)));
        long done = 3 * StepMessageSerializer.WireSize(new StepDone(1, "student-1", 0, 0, 0, 0, 0, 0, true, 0));
        Assert.Equal(3 * 64 + "teacher".Length + 2 * "student-1".Length + 3 * 4L * values, logits); // 64 bytes of slack and the id per map
        Assert.Equal(64 + 2 * (64 + 4L * (2 * values + 3 * batch * 80)), apply);
        Assert.Equal(3 * 128, done);
        // The batch to each of the 3 models: pixels, labels, and the boxes (a count per image and 5 floats per box).
        foreach (int boxes in new[] { 0, 32, 64 })
        {
            long step = StepMessageSerializer.BatchMessageSize(new ImageShape(3, 64, 64), batch, batch + 5 * boxes);
            Assert.Equal(1_840_485 + 60L * boxes, 3 * step + logits + apply + done); // docs/design/detection.md §6, step 3
        }
    }

    /// <summary>
    /// The remoting frame carries Akka's envelope around the message (recipient and sender paths, manifest, serializer id, sequence
    /// numbers): a batch whose message is a few hundred bytes under the frame passed the start-up check and was then dropped by the
    /// transport as oversized. Batch 1272 of 1x28x28 in 4 classes: the student's targets folded with the next batch take 320 bytes
    /// less than 1 MiB.
    /// </summary>
    [Fact]
    public void Should_refuse_at_start_a_frame_that_holds_the_largest_message_but_not_akkas_envelope_around_it()
    {
        const long frame = 1024 * 1024;
        var data = TestCohorts.SyntheticData(train: 64, test: 16);
        var splits = TestCohorts.Load(data);
        long Largest(int batch) => CoordinatorRun.LargestMessageBytes(
            new TrainingPlan(TestCohorts.Options(batch: batch), data, splits, Normalization.Identity(1), new OptimizerOptions()));
        int batch = Enumerable.Range(1000, 400).Last(b => Largest(b) <= frame);
        Assert.Equal(1272, batch);
        Assert.InRange(frame - Largest(batch), 1, 512); // within the envelope of the frame

        var output = Directory.CreateTempSubdirectory("p2pdistill-frame-").FullName;
        try
        {
            var training = TestCohorts.Options(batch: batch) with { OutputDirectory = output, RunName = "envelope" };
            var node = new NodeOptions { MaxFrameMiB = 1 };
            using var logging = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { });
            var e = Assert.Throws<InvalidDataException>(() => new CoordinatorRun(Options.Create(training), Options.Create(data),
                Options.Create(new OptimizerOptions()), Options.Create(node), Options.Create(new ClusterRunOptions()), logging).Dispose());
            Assert.Contains("--max-frame-mb 2", e.Message);
            Assert.Empty(Directory.GetFileSystemEntries(output));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
