using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Export;

/// <summary>Models trained a few steps on synthetic data, and their exports, for the export and command tests.</summary>
public static class ExportTestSupport
{
    /// <summary>The synthetic set of <see cref="TestCohorts.SyntheticData"/> (seed 3, 512 train, 128 test, 28x28 grayscale).</summary>
    public static DatasetSplits Data(int classes = 4) => TestCohorts.Load(TestCohorts.SyntheticData(classes: classes));

    /// <summary>The evaluate options that load the same synthetic set as <see cref="Data"/>.</summary>
    public static string[] SyntheticArgs(int classes = 4) =>
        ["--dataset", "synthetic", "--seed", "3", "--Data:SyntheticTrain=512", "--Data:SyntheticTest=128", $"--Data:SyntheticClasses={classes}"];

    /// <summary>A model trained <paramref name="steps"/> steps (batch 32) with the training split's own normalisation.</summary>
    public static ModelTrainer Train(string model, DatasetSplits data, int steps = 4, long seed = 11)
    {
        var setup = TestCohorts.Setup(model, ModelRole.Student, data, seed, DistillMode.Independent) with
        {
            Id = $"student-{model}",
            Normalization = DatasetStatistics.Compute(data.Train),
        };
        var trainer = new ModelTrainer(setup);
        var plan = new BatchPlan(data.Train.Count, 32, 1);
        for (int s = 0; s < steps; s++)
        {
            trainer.Forward(BatchBuilder.Build(data.Train, plan.Indices(0, s), AugmentOptions.None, 1, 0, s));
            trainer.Backward(DistillTargets.None);
        }
        return trainer;
    }

    public static ModelCard Card(ModelTrainer trainer, DatasetSplits data, ClassificationMetrics? metrics = null) => ModelCard.Create(
        trainer.Id, "student", trainer.Setup.ModelName, trainer.Setup.Spec, data.ClassNames, trainer.Setup.Normalization,
        new TrainingSummary("synthetic", "independent", 1, trainer.StepsApplied, 3, trainer.Setup.Seed, 32), metrics);

    /// <summary>The trainer's own test-split probabilities (row-major N x C), in batches of <paramref name="batchSize"/>.</summary>
    public static float[] Probabilities(ModelTrainer trainer, IImageDataset test, int batchSize = 128) =>
        BatchPlan.InOrder(test.Count, batchSize).Batches(0).SelectMany(indices => trainer.Predict(BatchBuilder.Build(test, indices))).ToArray();

    public static int[] Labels(IImageDataset dataset) => Enumerable.Range(0, dataset.Count).Select(dataset.Label).ToArray();

    /// <summary>Arg-max accuracy, computed here without the project's metrics code.</summary>
    public static double Accuracy(float[] probabilities, int[] labels, int classes)
    {
        int correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (probabilities[i * classes + c] > probabilities[i * classes + best]) best = c;
            if (best == labels[i]) correct++;
        }
        return (double)correct / labels.Length;
    }

    /// <summary>Runs a command with captured output.</summary>
    public static async Task<(int Code, string Out, string Err)> Run(Func<string[], TextWriter, TextWriter, Task<int>> command, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await command(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}

/// <summary>Trains a tiny and a cnn-student model on 4-class synthetic data and exports both; deletes the files afterwards.</summary>
public sealed class TrainedExports : IDisposable
{
    public TrainedExports()
    {
        Data = ExportTestSupport.Data();
        Tiny = ExportTestSupport.Train("tiny", Data, steps: 1, seed: 21); // one step: far from perfect, so accuracies differ
        Student = ExportTestSupport.Train("cnn-student", Data, seed: 22);
        TinyExport = ModelExporter.Export(Tiny.Network, ExportTestSupport.Card(Tiny, Data), Directory.Path, "tiny");
        StudentExport = ModelExporter.Export(Student.Network, ExportTestSupport.Card(Student, Data), Directory.Path, "student");
    }

    public TempDirectory Directory { get; } = new();
    public DatasetSplits Data { get; }
    public ModelTrainer Tiny { get; }
    public ModelTrainer Student { get; }
    public ExportResult TinyExport { get; }
    public ExportResult StudentExport { get; }

    public void Dispose()
    {
        Tiny.Dispose();
        Student.Dispose();
        Directory.Dispose();
    }
}

/// <summary>
/// A minimal safetensors reader written from the format description alone (independent of the exporter and of
/// TorchSharp.PyBridge): 8-byte little-endian header length, a UTF-8 JSON header {name: {dtype, shape, data_offsets}}
/// with offsets relative to the end of the header, then the raw little-endian data.
/// </summary>
public static class MinimalSafetensors
{
    public sealed record Entry(string DType, long[] Shape, byte[] Data)
    {
        public float[] Floats()
        {
            Assert.Equal("F32", DType);
            var values = new float[Data.Length / 4];
            for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(Data.AsSpan(4 * i));
            return values;
        }

        public long[] Longs()
        {
            Assert.Equal("I64", DType);
            var values = new long[Data.Length / 8];
            for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(Data.AsSpan(8 * i));
            return values;
        }
    }

    public static Dictionary<string, Entry> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        var dataStart = 8 + headerLength;
        Assert.True(dataStart <= bytes.Length, "the header runs past the end of the file");
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, headerLength));
        var result = new Dictionary<string, Entry>();
        long covered = 0;
        foreach (var property in header.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__") continue;
            var dtype = property.Value.GetProperty("dtype").GetString()!;
            var shape = property.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = property.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(2, offsets.Length);
            int elementSize = dtype switch { "F32" => 4, "I64" => 8, "F64" => 8, _ => throw new InvalidDataException($"unexpected dtype {dtype}") };
            long count = shape.Aggregate(1L, (a, b) => a * b);
            Assert.Equal(count * elementSize, offsets[1] - offsets[0]);
            result.Add(property.Name, new Entry(dtype, shape, bytes.AsSpan(checked((int)(dataStart + offsets[0])), (int)(offsets[1] - offsets[0])).ToArray()));
            covered += offsets[1] - offsets[0];
        }
        Assert.Equal(bytes.Length - dataStart, covered); // no gaps, no trailing bytes
        return result;
    }
}
