using Microsoft.ML.OnnxRuntime;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Onnx;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Export;
using P2PDistill.Tests.Support;
using TorchSharp;
using BatchNorm2d = TorchSharp.Modules.BatchNorm2d;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Onnx;

/// <summary>An ONNX file run by ONNX Runtime (CPU, one thread, default graph optimisations: what a user gets).</summary>
public sealed class OrtModel : IDisposable
{
    private readonly InferenceSession session;

    public OrtModel(string path)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        session = new InferenceSession(path, options);
    }

    public InferenceSession Session => session;

    /// <summary>Every output of the model for a float32 input of shape <paramref name="shape"/>, by name, with its shape.</summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Run(float[] input, long[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        var outputNames = session.OutputNames;
        using var outputs = session.Run(runOptions, [OnnxExporter.InputName], [value], outputNames);
        var values = outputs.ToList();
        var result = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
        for (int i = 0; i < outputNames.Count; i++)
            result.Add(outputNames[i], (values[i].GetTensorDataAsSpan<float>().ToArray(), values[i].GetTensorTypeAndShape().Shape));
        return result;
    }

    /// <summary>The model's outputs for uint8 images given as raw pixel values 0-255, as the ONNX input takes them.</summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Run(ImageBatch batch) =>
        Run(OnnxTestSupport.RawPixels(batch), [batch.Count, batch.Shape.Channels, batch.Shape.Height, batch.Shape.Width]);

    public void Dispose() => session.Dispose();
}

public static class OnnxTestSupport
{
    /// <summary>ONNX Runtime equals TorchSharp within this, in absolute terms, on probabilities and on logits.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>The batch's pixels as floats 0-255 (no scaling): the ONNX input.</summary>
    public static float[] RawPixels(ImageBatch batch) => batch.Pixels.Select(p => (float)p).ToArray();

    /// <summary>Images of <paramref name="shape"/> with uniformly random pixels (seeded).</summary>
    public static ImageBatch RandomImages(ImageShape shape, int count, int seed)
    {
        var random = new Random(seed);
        var pixels = new byte[count * shape.Pixels];
        random.NextBytes(pixels);
        return new ImageBatch(shape, pixels, new int[count]);
    }

    /// <summary>Images <paramref name="start"/>.. of a data set, as a batch.</summary>
    public static ImageBatch Images(IImageDataset dataset, int start, int count) =>
        BatchBuilder.Build(dataset, Enumerable.Range(start, count).ToArray());

    /// <summary>TorchSharp's evaluation-mode logits of <paramref name="network"/> for the batch under <paramref name="normalization"/>.</summary>
    public static float[] TorchLogits(nn.Module<Tensor, Tensor> network, ImageBatch batch, Normalization normalization)
    {
        network.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var input = BatchTensors.ToTensor(batch, normalization);
        return network.forward(input).data<float>().ToArray();
    }

    /// <summary>Row-wise softmax of N x C logits, in double precision.</summary>
    public static float[] Softmax(float[] logits, int classes)
    {
        var result = new float[logits.Length];
        for (int row = 0; row < logits.Length / classes; row++)
        {
            var span = logits.AsSpan(row * classes, classes);
            double max = double.NegativeInfinity;
            foreach (var v in span) max = Math.Max(max, v);
            double sum = 0;
            foreach (var v in span) sum += Math.Exp(v - max);
            for (int c = 0; c < classes; c++) result[row * classes + c] = (float)(Math.Exp(span[c] - max) / sum);
        }
        return result;
    }

    /// <summary>The largest absolute difference; the arrays must have the same length.</summary>
    public static double MaxAbsDifference(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int i = 0; i < expected.Length; i++) max = Math.Max(max, Math.Abs((double)expected[i] - actual[i]));
        return max;
    }

    /// <summary>
    /// A model trained <paramref name="steps"/> steps (Adam, lr 1e-3, batch 32) with the training split's own normalisation, its
    /// batch norms' running statistics then set to those of 64 training images (a network trained a few steps still has nearly its
    /// initial statistics, which blow a deep network's evaluation-mode outputs up to millions and saturate its softmax; the
    /// comparison with ONNX Runtime wants outputs of a usual size).
    /// </summary>
    public static ModelTrainer Train(string model, DatasetSplits data, int steps, long seed)
    {
        var setup = TestCohorts.Setup(model, ModelRole.Student, data, seed, DistillMode.Independent) with
        {
            Id = $"student-{model}",
            Normalization = DatasetStatistics.Compute(data.Train),
            Optimizer = new OptimizerOptions { Name = OptimizerKind.Adam, LearningRate = 1e-3 },
        };
        var trainer = new ModelTrainer(setup);
        var plan = new BatchPlan(data.Train.Count, 32, 1);
        for (int s = 0; s < steps; s++)
        {
            trainer.Forward(BatchBuilder.Build(data.Train, plan.Indices(0, s), AugmentOptions.None, 1, 0, s));
            trainer.Backward(DistillTargets.None);
        }
        var norms = trainer.Network.modules().OfType<BatchNorm2d>().ToList();
        if (norms.Count > 0)
        {
            foreach (var bn in norms) bn.momentum = 1.0;
            trainer.Network.train();
            using (no_grad())
            using (NewDisposeScope())
                trainer.Network.forward(BatchTensors.ToTensor(Images(data.Train, 0, Math.Min(64, data.Train.Count)), setup.Normalization));
            foreach (var bn in norms) bn.momentum = 0.1;
        }
        trainer.Network.eval();
        return trainer;
    }

    /// <summary>The classifiers with an ONNX export (<see cref="OnnxExporter.Architectures"/> without the detectors, which OnnxDetectorSpecs covers).</summary>
    public static IReadOnlyList<string> Classifiers { get; } =
        OnnxExporter.Architectures.Where(a => ModelRegistry.Get(a).Task == TaskKind.Classification).ToArray();

    /// <summary>The PneumoniaMNIST test images shipped with the project (data/pneumoniamnist, copied beside the tests): real chest X-rays.</summary>
    public static IImageDataset PneumoniaMnistTest(int count) =>
        DatasetFactory.Load(new DataOptions { Dataset = DatasetFactory.PneumoniaMnist, TrainLimit = 16, TestLimit = count }).Test;
}

/// <summary>
/// Every classifier of the registry with an ONNX export, trained a few steps (batch 32, so batch norm has running statistics of
/// its own) on the 4-class 28x28 synthetic set with that set's normalisation, exported with its .onnx file; deleted afterwards.
/// </summary>
public sealed class TrainedOnnxModels : IDisposable
{
    private readonly Dictionary<string, (ModelTrainer Trainer, ExportResult Export)> models = new(StringComparer.Ordinal);

    public TrainedOnnxModels()
    {
        Data = ExportTestSupport.Data();
        long seed = 40;
        foreach (var name in OnnxTestSupport.Classifiers)
        {
            var trainer = OnnxTestSupport.Train(name, Data, steps: 2, seed: seed++);
            var export = ModelExporter.Export(trainer.Network, ExportTestSupport.Card(trainer, Data), Directory.Path, name, onnx: true);
            models.Add(name, (trainer, export));
        }
    }

    public TempDirectory Directory { get; } = new();
    public DatasetSplits Data { get; }

    public ModelTrainer Trainer(string name) => models[name].Trainer;

    public ExportResult Export(string name) => models[name].Export;

    public void Dispose()
    {
        foreach (var (trainer, _) in models.Values) trainer.Dispose();
        Directory.Dispose();
    }
}
