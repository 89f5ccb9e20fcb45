using Microsoft.Extensions.Configuration;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Detection.Settings;

/// <summary>--task binds like every setting, and the defaults that depend on it (models, data set) follow it.</summary>
[Trait("Category", "Unit")]
public sealed class TaskSettingsSpecs
{
    private static (TrainingOptions Training, DataOptions Data) Bind(params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();
        var training = new TrainingOptions();
        configuration.GetSection("Training").Bind(training);
        var data = new DataOptions();
        configuration.GetSection("Data").Bind(data);
        return (training, data);
    }

    [Fact]
    public void Should_default_to_the_detectors_and_the_synthetic_detection_set_for_task_detection()
    {
        var (training, data) = Bind(("Training:Task", "detection"), ("Data:Task", "detection"));

        Assert.Equal(TaskKind.Detection, training.Task);
        Assert.Equal("det-teacher", training.TeacherModel);
        Assert.Equal("det-student", training.StudentModel);
        Assert.Equal(DatasetFactory.SyntheticDetection, data.Dataset);
    }

    [Fact]
    public void Should_keep_the_classification_defaults_and_explicit_choices()
    {
        var (classification, data) = Bind();
        Assert.Equal(("cnn-teacher", "cnn-student", "fashion-mnist"), (classification.TeacherModel, classification.StudentModel, data.Dataset));

        var (chosen, yolo) = Bind(("Training:Task", "det"), ("Training:StudentModel", "det-teacher"), ("Data:Task", "det"), ("Data:Dataset", "yolo"));
        Assert.Equal(("det-teacher", "det-teacher", "yolo"), (chosen.TeacherModel, chosen.StudentModel, yolo.Dataset));
    }

    [Fact]
    public void Should_refuse_a_data_set_of_the_other_task_by_name()
    {
        var boxes = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "synthetic-detection" }));
        Assert.Contains("--dataset synthetic-detection is a detection data set: add --task detection", boxes.Message);

        var labels = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Task = TaskKind.Detection, Dataset = "synthetic" }));
        Assert.Contains("--dataset synthetic is a classification data set, and --task detection needs boxes: use synthetic-detection, yolo, coco", labels.Message);
    }

    [Fact]
    public void Should_load_the_synthetic_detection_set_at_the_image_size_with_its_boxes_kept_by_the_limits()
    {
        var splits = DatasetFactory.Load(new DataOptions
        {
            Task = TaskKind.Detection, SyntheticTrain = 40, SyntheticTest = 12, ImageSize = 96, TrainLimit = 30, TestLimit = 10,
        });

        Assert.Equal(new ImageShape(3, 96, 96), splits.Shape);
        Assert.Equal(["sessile", "pedunculated"], splits.ClassNames);
        var train = Assert.IsAssignableFrom<P2PDistill.Shared.Detection.IDetectionDataset>(splits.Train);
        Assert.Equal(30, train.Count);
        Assert.IsAssignableFrom<P2PDistill.Shared.Detection.IDetectionDataset>(splits.Test);
        Assert.Equal(10, splits.Test.Count);
        Assert.All(Enumerable.Range(0, train.Count), i => Assert.InRange(train.Boxes(i).Count, 1, 4));
    }
}

/// <summary>Each task's eval.csv header names the columns its metrics write, in their order.</summary>
[Trait("Category", "Unit")]
public sealed class TaskMetricColumnsSpecs
{
    [Fact]
    public void Should_name_the_columns_its_metrics_write()
    {
        var classification = new P2PDistill.Shared.Tasks.ClassificationTask(2);
        var metrics = P2PDistill.Shared.Metrics.MetricsCalculator.Compute([0.9f, 0.1f, 0.2f, 0.8f], 2, [0, 1]);
        Assert.Equal(classification.MetricColumns, metrics.Columns.Select(c => c.Name));
        Assert.Equal(P2PDistill.Shared.Runs.MetricsWriter.EvalCsvHeader, P2PDistill.Shared.Runs.MetricsWriter.EvalHeader(classification.MetricColumns));

        var detection = new P2PDistill.Shared.Tasks.DetectionTask(new P2PDistill.Shared.Detection.DetectionLayout(2, 32, 32));
        var map = P2PDistill.Shared.Detection.MeanAveragePrecision.Compute([[]], [[new P2PDistill.Shared.Detection.Box(0, 1, 1, 9, 9)]], ["a", "b"]);
        Assert.Equal(detection.MetricColumns, map.Columns.Select(c => c.Name));
    }
}
