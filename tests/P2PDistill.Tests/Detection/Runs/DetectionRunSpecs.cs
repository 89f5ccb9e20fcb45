using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Detection.Runs;

/// <summary>The coordinator executable trains the detection task from its flags, as a real process writing a real run directory.</summary>
[Trait("Category", "MultiProcess")]
[Collection(ProcessTests.Name)]
public sealed class DetectionRunSpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-det-run-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Should_train_the_synthetic_detection_cohort_single_process_and_report_map()
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Task("detection").Models("det-student", "det-student").Students(2)
            .Config("Data:SyntheticTrain", 48).Config("Data:SyntheticTest", 16).Epochs(1).BatchSize(8).MaxSteps(3).Output(dir, "d"),
            dir, TimeSpan.FromMinutes(4));

        Assert.True(r.ExitCode == (int)ExitCode.Completed, r.Output);
        Assert.Contains("Dataset synthetic-detection: 48 training and 16 test images, 3x64x64, 2 classes", r.Output);
        Assert.Contains("eval epoch 1: student-ensemble map50=", r.Output);
        var run = Path.Combine(dir, "d");
        var eval = File.ReadAllLines(Path.Combine(run, "metrics", "eval.csv"));
        Assert.Equal("epoch,global_step,model,role,map50,map50_95,detections,ground_truths,split", eval[0]);
        Assert.Equal(4, eval.Length - 1); // teacher, 2 students, the ensemble
        Assert.StartsWith("1,3,student-ensemble,ensemble,", eval[^1]);
        var summary = File.ReadAllText(Path.Combine(run, "summary.md"));
        Assert.Contains("| model | mAP@0.5 | mAP@0.5:0.95 | AP@0.5 sessile | AP@0.5 pedunculated |", summary);
        Assert.Contains("| student-ensemble |", summary);
        foreach (var id in new[] { "teacher", "student-1", "student-2" })
            Assert.True(File.Exists(Path.Combine(run, "models", id + ".dat")), $"missing models/{id}.dat");
        // The detectors and their ensemble in ONNX, and the compression report by mAP.
        foreach (var id in new[] { "teacher", "student-1", "student-2", "ensemble" })
            Assert.True(File.Exists(Path.Combine(run, "models", id + ".onnx")), $"missing models/{id}.onnx");
        var compression = File.ReadAllText(Path.Combine(run, "models", "compression.md"));
        Assert.Contains("| ms/image, batch 32 | mAP@0.5 | mAP@0.5:0.95 |", compression);
        Assert.Contains("| student-ensemble | 2 × det-student |", compression);
        var pr = File.ReadAllBytes(Path.Combine(run, "plots", "pr.png"));
        Assert.True(pr.Length > 5000, $"plots/pr.png is only {pr.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, pr[..4]);
        Assert.False(File.Exists(Path.Combine(run, "plots", "roc.png")), "a detection run has no ROC curve");
        Assert.True(File.Exists(Path.Combine(run, "plots", "map50.png")), "the learning curve is named after the headline metric");
        Assert.False(File.Exists(Path.Combine(run, "plots", "accuracy.png")), "a detection run has no accuracy curve");
    }

    [Fact]
    public void Should_refuse_a_classification_data_set_for_task_detection_before_writing_anything()
    {
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Task("detection").Dataset("synthetic").Output(dir, "bad"), dir, TimeSpan.FromMinutes(2));

        Assert.True(r.ExitCode == (int)ExitCode.BadInput, r.Output);
        Assert.Contains("--dataset synthetic is a classification data set, and --task detection needs boxes: use synthetic-detection, yolo, coco", r.Output);
        Assert.False(Directory.Exists(Path.Combine(dir, "bad")), "no run directory for a run that never started");
    }
}
