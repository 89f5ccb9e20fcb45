using System.Text.Json.Nodes;
using P2PDistill.Coordinator.Hosting;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Runs;
using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// --resume's settings against the run's config.json (as RunSession writes it): every setting that matters is named with
/// both values, the ones that may change are not, and a setting an older version did not record counts at its default.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ResumeSettingsSpecs
{
    private static readonly TrainingOptions Training = new() { TeacherModel = "tiny", StudentModel = "tiny", BatchSize = 32, Epochs = 2, Threads = 1 };
    private static readonly DataOptions Data = new() { Dataset = "synthetic", SyntheticTrain = 128, SyntheticTest = 32 };
    private static readonly OptimizerOptions Optimizer = new();

    private static JsonObject Recorded(string mode = "cluster", TrainingOptions? training = null, DataOptions? data = null) =>
        RunDirectory.ToJson(new Dictionary<string, object>
        {
            ["mode"] = mode, ["training"] = training ?? Training, ["data"] = data ?? Data, ["optimizer"] = Optimizer,
        })!.AsObject();

    [Fact]
    public void Should_accept_the_same_settings_and_those_that_may_change()
    {
        var now = Training with
        {
            Threads = 4, CheckpointEverySteps = 7, KeepCheckpoints = 9, EvalEveryEpochs = 2, OutputDirectory = "elsewhere", RunName = "other",
            Temperature = 1.0, // the default temperature, given explicitly
        };

        Assert.Empty(ResumeSettings.Differences(Recorded(), now, Data with { Mode = DataMode.Local }, Optimizer, embedded: false));
    }

    [Fact]
    public void Should_name_every_setting_that_matters_with_both_values()
    {
        var now = Training with { Epochs = 3, Mode = DistillMode.Kd, Temperature = 4, StudentModels = ["tiny", "cnn-student"] };
        var data = Data with { SyntheticTest = 16, HorizontalFlip = true, Path = "/data/x" };

        var differences = ResumeSettings.Differences(Recorded(), now, data, Optimizer with { Schedule = LearningRateScheduleKind.Cosine }, embedded: false);

        Assert.Equal(
        [
            "--temperature-kd or --temperature (training.distillation.temperature_kd): 1 in the run, 4 now",
            "--temperature-ml or --temperature (training.distillation.temperature_ml): 1 in the run, 4 now",
            "--epochs (training.epochs): 2 in the run, 3 now",
            "--mode (training.mode): kd-ml in the run, kd now",
            "--student-models (training.student_models): [] in the run, [\"tiny\",\"cnn-student\"] now",
            "--flip (data.horizontal_flip): false in the run, true now",
            "--data-path (data.path): unset in the run, /data/x now",
            "--Data:SyntheticTest (data.synthetic_test): 32 in the run, 16 now",
            "--schedule (optimizer.schedule): constant in the run, cosine now",
        ], differences);
    }

    [Fact]
    public void Should_compare_the_number_of_students_only_between_embedded_runs()
    {
        var now = Training with { Students = 3 };

        Assert.Empty(ResumeSettings.Differences(Recorded("cluster"), now, Data, Optimizer, embedded: false));
        Assert.Empty(ResumeSettings.Differences(Recorded("cluster"), now, Data, Optimizer, embedded: true));
        Assert.Equal(["--students (training.students): 2 in the run, 3 now"],
            ResumeSettings.Differences(Recorded("embedded"), now, Data, Optimizer, embedded: true));
    }

    [Fact]
    public void Should_take_a_setting_an_older_run_did_not_record_at_its_default()
    {
        var recorded = Recorded();
        recorded["training"]!.AsObject().Remove("ramp_up_epochs");

        Assert.Empty(ResumeSettings.Differences(recorded, Training, Data, Optimizer, embedded: false));
        Assert.Equal(["--rampup-epochs (training.ramp_up_epochs): 0 in the run, 2 now"],
            ResumeSettings.Differences(recorded, Training with { RampUpEpochs = 2 }, Data, Optimizer, embedded: false));
    }
}
