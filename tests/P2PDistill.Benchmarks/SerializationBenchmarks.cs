using P2PDistill.Shared.Hosting;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Benchmarks;

/// <summary>The hot step messages of one step at batch 128 (Fashion-MNIST shapes), built once.</summary>
public static class StepMessageSamples
{
    public const int Batch = 128, Classes = 10, Pixels = 28 * 28;

    public static TrainStep TrainStep()
    {
        var random = new Random(7);
        var pixels = new byte[Batch * Pixels];
        random.NextBytes(pixels);
        var labels = Enumerable.Range(0, Batch).Select(_ => random.Next(Classes)).ToArray();
        return new TrainStep(1234, 2, 17, new ImageBatch(new ImageShape(1, 28, 28), pixels, labels));
    }

    public static StepLogits StepLogits() => new(1234, "student-2", Batch, Classes, Floats(Batch * Classes, 1), 41.5);

    /// <summary>A student's targets in kd-ml: teacher logits, the peers' probability sum and negative-entropy sum.</summary>
    public static ApplyTargets ApplyTargets() =>
        new(1234, new DistillTargets(Floats(Batch * Classes, 2), Floats(Batch * Classes, 3), Floats(Batch, 4), 1));

    private static float[] Floats(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
    }

    /// <summary>An actor system with the project's serialization settings (no remoting).</summary>
    public static ActorSystem System() => ActorSystem.Create("serialization-bench",
        ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString(NodeHocon.WireFormat))));

    /// <summary>
    /// Hyperion with the wire settings of the project's Hyperion binding (version tolerance as Akka's default, no object
    /// references, unsafe types refused) but no allow-list, for comparison with the hand-written serializer.
    /// </summary>
    public static Hyperion.Serializer Hyperion() => new(new Hyperion.SerializerOptions(
        versionTolerance: true, preserveObjectReferences: false, surrogates: null, serializerFactories: null, knownTypes: null,
        ignoreISerializable: false, packageNameOverrides: [], disallowUnsafeTypes: true, typeFilter: global::Hyperion.DisabledTypeFilter.Instance));

    public static byte[] HyperionBytes(Hyperion.Serializer hyperion, object message)
    {
        using var ms = new MemoryStream();
        hyperion.Serialize(message, ms);
        return ms.ToArray();
    }

    public static T HyperionRead<T>(Hyperion.Serializer hyperion, byte[] bytes)
    {
        using var ms = new MemoryStream(bytes);
        return hyperion.Deserialize<T>(ms);
    }
}

/// <summary>
/// Encode + decode of the step messages: the project's <see cref="StepMessageSerializer"/> against plain Hyperion, with
/// allocations (<see cref="MemoryDiagnoserAttribute"/>).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SerializationBenchmarks
{
    private ActorSystem system = null!;
    private Serializer step = null!;
    private Hyperion.Serializer hyperion = null!;
    private TrainStep trainStep = null!;
    private StepLogits logits = null!;
    private ApplyTargets targets = null!;

    [GlobalSetup]
    public void Setup()
    {
        system = StepMessageSamples.System();
        trainStep = StepMessageSamples.TrainStep();
        logits = StepMessageSamples.StepLogits();
        targets = StepMessageSamples.ApplyTargets();
        step = system.Serialization.FindSerializerFor(trainStep);
        if (step is not StepMessageSerializer) throw new InvalidOperationException($"step messages are bound to {step.GetType()}, not the step serializer");
        hyperion = StepMessageSamples.Hyperion();
    }

    [GlobalCleanup]
    public void Cleanup() => system.Terminate().Wait(TimeSpan.FromSeconds(10));

    private object RoundTrip(object message)
    {
        var bytes = step.ToBinary(message);
        return ((SerializerWithStringManifest)step).FromBinary(bytes, ((SerializerWithStringManifest)step).Manifest(message));
    }

    private long attempt;

    /// <summary>A new message object each time: the step serializer reuses the bytes of a message it has encoded (a broadcast).</summary>
    private TrainStep FreshTrainStep() => trainStep with { Attempt = ++attempt };

    [Benchmark(Baseline = true, Description = "StepMessageSerializer"), BenchmarkCategory("TrainStep (128x1x28x28 uint8)")]
    public object TrainStepStep() => RoundTrip(FreshTrainStep());

    /// <summary>One batch sent to a teacher and 3 students: encoded for each recipient, decoded by each (issue 14: encoded once).</summary>
    [Benchmark(Description = "StepMessageSerializer, to 4 models"), BenchmarkCategory("TrainStep (128x1x28x28 uint8)")]
    public object TrainStepToFourModels()
    {
        var message = FreshTrainStep();
        object last = message;
        for (int i = 0; i < 4; i++) last = RoundTrip(message);
        return last;
    }

    [Benchmark(Description = "Hyperion"), BenchmarkCategory("TrainStep (128x1x28x28 uint8)")]
    public object TrainStepHyperion() => StepMessageSamples.HyperionRead<TrainStep>(hyperion, StepMessageSamples.HyperionBytes(hyperion, trainStep));

    [Benchmark(Baseline = true, Description = "StepMessageSerializer"), BenchmarkCategory("StepLogits (128x10 float32)")]
    public object LogitsStep() => RoundTrip(logits);

    [Benchmark(Description = "Hyperion"), BenchmarkCategory("StepLogits (128x10 float32)")]
    public object LogitsHyperion() => StepMessageSamples.HyperionRead<StepLogits>(hyperion, StepMessageSamples.HyperionBytes(hyperion, logits));

    [Benchmark(Baseline = true, Description = "StepMessageSerializer"), BenchmarkCategory("ApplyTargets (kd-ml, 128x10 x2 + 128)")]
    public object TargetsStep() => RoundTrip(targets);

    [Benchmark(Description = "Hyperion"), BenchmarkCategory("ApplyTargets (kd-ml, 128x10 x2 + 128)")]
    public object TargetsHyperion() => StepMessageSamples.HyperionRead<ApplyTargets>(hyperion, StepMessageSamples.HyperionBytes(hyperion, targets));
}
