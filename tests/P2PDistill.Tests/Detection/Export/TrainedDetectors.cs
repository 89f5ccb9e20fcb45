using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Metrics;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Tasks;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Support;
using TorchSharp;

namespace P2PDistill.Tests.Detection.Export;

/// <summary>Detectors trained a few steps on a tiny synthetic detection set (32×32 RGB, seed 5), for the export and command tests.</summary>
public static class DetectionExportSupport
{
    public const int Size = 32;
    public const int Seed = 5;
    public const int TestCount = 12;

    /// <summary>The synthetic detection set the detectors train on: 32 training and <see cref="TestCount"/> test images.</summary>
    public static DetectionSplits Data() => SyntheticDetectionDataset.Load(32, TestCount, Size, 3, Seed);

    /// <summary>The evaluate options that load <see cref="Data"/>'s test split (the dataset, image size and channels come from the card).</summary>
    public static string[] EvaluateArgs() => ["--seed", $"{Seed}", "--Data:SyntheticTrain=8", $"--Data:SyntheticTest={TestCount}"];

    /// <summary>A det-student trained <paramref name="steps"/> steps (batch 8) with the training split's normalisation.</summary>
    public static ModelTrainer Train(DetectionSplits data, string id, long seed, int steps)
    {
        var splits = data.ToDatasetSplits();
        var setup = TestCohorts.Setup("det-student", ModelRole.Student, splits, seed, DistillMode.Independent) with
        {
            Id = id,
            Normalization = DatasetStatistics.Compute(splits.Train),
            Task = TaskKind.Detection,
        };
        var trainer = new ModelTrainer(setup);
        var task = TrainingTasks.For(TaskKind.Detection, setup.Spec, data.ClassNames);
        var plan = new BatchPlan(data.Train.Count, 8, 1);
        for (int s = 0; s < steps; s++)
        {
            trainer.Forward(task.Batch(data.Train, plan.Indices(0, s), AugmentOptions.None, 1, 0, s));
            trainer.Backward(DistillTargets.None);
        }
        return trainer;
    }

    public static ModelCard Card(ModelTrainer trainer, DetectionSplits data, IModelMetrics? metrics = null) => ModelCard.Create(
        trainer.Id, "student", trainer.Setup.ModelName, trainer.Setup.Spec, data.ClassNames, trainer.Setup.Normalization,
        new TrainingSummary(DatasetFactory.SyntheticDetection, "independent", 1, trainer.StepsApplied, Seed, trainer.Setup.Seed, 8), metrics);

    /// <summary>The trainer's own probability maps of every image of <paramref name="split"/> (row-major N×L×D).</summary>
    public static float[] Maps(ModelTrainer trainer, IImageDataset split) =>
        BatchPlan.InOrder(split.Count, 5).Batches(0).SelectMany(indices => trainer.Predict(BatchBuilder.Build(split, indices))).ToArray();

    /// <summary>
    /// Sets the bias of the class convolution: a few steps leave every score near the 0.01 prior, under the decoder's 0.05
    /// threshold; a higher bias makes boxes appear, a very low one makes every image empty.
    /// </summary>
    public static void SetClassBias(torch.nn.Module network, double value)
    {
        using var noGrad = torch.no_grad();
        var bias = network.named_parameters().Where(p => p.name == "classes.bias").Select(p => p.parameter).ToList();
        Assert.Single(bias);
        bias[0].fill_(value);
    }

    /// <summary>The layout of the detectors' maps.</summary>
    public static DetectionLayout Layout => new(2, Size, Size);
}

/// <summary>
/// Two det-students trained a few steps, with their class bias raised so that they detect boxes (A at −1.5, B at −0.5), and
/// their exports; and "blind", B's weights with a class bias of −30 (no box anywhere). Deletes the files afterwards.
/// </summary>
public sealed class TrainedDetectors : IDisposable
{
    public TrainedDetectors()
    {
        Data = DetectionExportSupport.Data();
        A = DetectionExportSupport.Train(Data, "student-det-a", seed: 61, steps: 3);
        B = DetectionExportSupport.Train(Data, "student-det-b", seed: 62, steps: 2);
        DetectionExportSupport.SetClassBias(A.Network, -1.5);
        DetectionExportSupport.SetClassBias(B.Network, -0.5);
        MapsA = DetectionExportSupport.Maps(A, Data.Test);
        MapsB = DetectionExportSupport.Maps(B, Data.Test);
        ExportA = ModelExporter.Export(A.Network, DetectionExportSupport.Card(A, Data), Directory.Path, "det-a");
        ExportB = ModelExporter.Export(B.Network, DetectionExportSupport.Card(B, Data), Directory.Path, "det-b");
        using var blind = DetectionExportSupport.Train(Data, "student-det-blind", seed: 62, steps: 2);
        DetectionExportSupport.SetClassBias(blind.Network, -30);
        BlindExport = ModelExporter.Export(blind.Network, DetectionExportSupport.Card(blind, Data), Directory.Path, "det-blind");
    }

    public TempDirectory Directory { get; } = new();
    public DetectionSplits Data { get; }
    public ModelTrainer A { get; }
    public ModelTrainer B { get; }

    /// <summary>A's and B's probability maps of the test split, from the trainers in memory.</summary>
    public float[] MapsA { get; }
    public float[] MapsB { get; }

    public ExportResult ExportA { get; }
    public ExportResult ExportB { get; }
    public ExportResult BlindExport { get; }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        Directory.Dispose();
    }
}
