using Microsoft.Extensions.Configuration;
using P2PDistill.Coordinator.Cli;
using P2PDistill.Coordinator.Hosting;
using P2PDistill.PeerNode.Hosting;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.BadInput;

/// <summary>Invalid hyper-parameters and settings: every message names the flag, the value given and what to give instead.</summary>
[Trait("Category", "Unit")]
public sealed class BadSettingsSpecs
{
    private static string Errors(TrainingOptions o) => string.Join("\n", o.Validate());

    [Theory]
    [InlineData(0.0, null, null, "--temperature must be > 0 and finite (got 0)")]
    [InlineData(-1.0, null, null, "--temperature must be > 0 and finite (got -1)")]
    [InlineData(null, 0.0, null, "--temperature-kd must be > 0 and finite (got 0)")]
    [InlineData(null, null, -3.0, "--temperature-ml must be > 0 and finite (got -3)")]
    [InlineData(double.NaN, null, null, "--temperature must be > 0 and finite (got NaN)")]
    public void Should_name_the_temperature_flag_that_was_given(double? both, double? kd, double? ml, string expected)
    {
        var errors = new TrainingOptions { Temperature = both, TemperatureKd = kd, TemperatureMl = ml }.Validate();

        var error = Assert.Single(errors);
        Assert.Contains(expected, error);
        Assert.Contains("1 is the default", error);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(9)]
    public void Should_name_a_teacher_lookahead_out_of_range(int lookahead)
    {
        var error = Assert.Single(new ClusterRunOptions { TeacherLookahead = lookahead }.Validate());

        Assert.Equal($"teacher-lookahead must be between 0 and 8 steps (got {lookahead})", error);
        Assert.Empty(new ClusterRunOptions { TeacherLookahead = 8 }.Validate());
        Assert.Empty(new ClusterRunOptions { TeacherLookahead = 2, StepProtocol = P2PDistill.Coordinator.Actors.StepProtocol.Classic }.Validate()); // ignored there
    }

    [Fact]
    public void Should_report_a_bad_shared_temperature_even_when_both_specific_ones_are_given()
    {
        // --temperature 0 with both specific temperatures given: --temperature itself is still wrong and is reported as such.
        var errors = new TrainingOptions { Temperature = 0, TemperatureKd = 2, TemperatureMl = 3 }.Validate();

        Assert.Contains("--temperature must be > 0", Assert.Single(errors));
    }

    [Theory]
    [InlineData("weight-ce")]
    [InlineData("alpha")]
    [InlineData("beta")]
    public void Should_refuse_a_negative_loss_weight_naming_its_flag(string flag)
    {
        var o = flag switch
        {
            "weight-ce" => new TrainingOptions { WeightCe = -0.5 },
            "alpha" => new TrainingOptions { Alpha = -0.5 },
            _ => new TrainingOptions { Beta = -0.5 },
        };

        var error = Assert.Single(o.Validate());

        Assert.Contains($"--{flag} must be >= 0 and finite (got -0.5)", error);
        Assert.Contains("use 0 to switch the term off", error);
    }

    [Fact]
    public void Should_refuse_batch_size_0_and_epochs_0_with_the_fix()
    {
        var errors = Errors(new TrainingOptions { BatchSize = 0, Epochs = 0 });

        Assert.Contains("--batch-size must be >= 1 (got 0); give the images per step, e.g. --batch-size 128", errors);
        Assert.Contains("--epochs must be >= 1 (got 0); give the number of epochs to train, e.g. --epochs 1", errors);
    }

    [Fact]
    public void Should_accept_the_defaults()
    {
        Assert.Empty(new TrainingOptions().Validate());
        Assert.Null(new OptimizerOptions().Validate());
    }

    [Theory]
    [InlineData(0.0, "--lr: learning rate must be > 0 and finite (got 0)")]
    [InlineData(-0.1, "--lr: learning rate must be > 0 and finite (got -0.1)")]
    public void Should_name_the_learning_rate_flag(double lr, string expected)
    {
        Assert.Equal(expected + "; e.g. --lr 0.001", new OptimizerOptions { LearningRate = lr }.Validate());
    }

    [Theory]
    [InlineData("Training:Mode", "distill-everything", "--mode (Training:Mode) must be independent, kd, ml or kd-ml (got 'distill-everything')")]
    [InlineData("Optimizer:Name", "rmsprop", "--optimizer (Optimizer:Name) must be sgd, adam or adamw (got 'rmsprop')")]
    [InlineData("Optimizer:Schedule", "linear", "--schedule (Optimizer:Schedule) must be constant, cosine or step (got 'linear')")]
    [InlineData("Data:Mode", "stream", "--data-mode (Data:Mode) must be ship or local (got 'stream')")]
    [InlineData("Run:TeacherLost", "panic", "--teacher-lost (Run:TeacherLost) must be wait or continue-ml (got 'panic')")]
    public void Should_name_an_unknown_name_and_list_the_known_ones_when_settings_are_bound(string key, string value, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        var section = key.Split(':')[0];
        Action bind = section switch
        {
            "Training" => () => configuration.GetSection(section).Get<TrainingOptions>(),
            "Optimizer" => () => configuration.GetSection(section).Get<OptimizerOptions>(),
            "Data" => () => configuration.GetSection(section).Get<DataOptions>(),
            _ => () => configuration.GetSection(section).Get<ClusterRunOptions>(),
        };

        var e = Assert.Throws<InvalidOperationException>(bind);

        Assert.Equal($"invalid configuration: {expected}", ConfigurationErrors.Describe(e, CoordinatorCli.Create()));
    }

    [Theory]
    [InlineData("kd+ml", DistillMode.KdMl)]
    [InlineData(" KD-ML ", DistillMode.KdMl)]
    [InlineData("dml", DistillMode.Ml)]
    [InlineData("ce", DistillMode.Independent)]
    public void Should_bind_a_mode_once_into_its_enum_accepting_the_aliases(string text, DistillMode expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Training:Mode"] = text }).Build();

        Assert.Equal(expected, configuration.GetSection("Training").Get<TrainingOptions>()!.Mode);
    }

    [Fact]
    public void Should_refuse_models_that_do_not_fit_the_dataset_before_a_run_starts()
    {
        var dataOptions = TestCohorts.SyntheticData(train: 32, test: 8) with { SyntheticSize = 20 };
        var data = TestCohorts.Load(dataOptions);
        var plan = new TrainingPlan(TestCohorts.Options(teacher: "cnn-teacher", student: "resnet18"), dataOptions, data, Normalization.Identity(1), new OptimizerOptions());

        var e = Assert.Throws<ArgumentException>(plan.EnsureModelsFit);

        Assert.Contains("--teacher-model: model 'cnn-teacher' needs 28x28 inputs, got 1x20x20 -> 4 classes", e.Message);
        Assert.DoesNotContain("--student-model", e.Message); // resnet18 takes 20x20
        Assert.Contains("choose a model that fits (mlp, mobilenet-v2, resnet18, tiny)", e.Message);
    }

    [Theory]
    [InlineData("Training:Epochs", "x", "System.Int32", "--epochs (Training:Epochs) is 'x', which is not a whole number")]
    [InlineData("Training:Alpha", "1,5", "System.Double", "--alpha (Training:Alpha) is '1,5', which is not a number (use a dot for decimals, e.g. 0.5)")]
    [InlineData("Data:HorizontalFlip", "yes", "System.Boolean", "--flip (Data:HorizontalFlip) is 'yes', which is not true or false")]
    [InlineData("Data:SyntheticTrain", "many", "System.Int32", "Data:SyntheticTrain is 'many', which is not a whole number")]
    public void Should_turn_a_value_of_the_wrong_type_into_a_message_naming_the_flag(string key, string value, string type, string expected)
    {
        var inner = new InvalidOperationException($"Failed to convert configuration value '{value}' at '{key}' to type '{type}'.", new FormatException());

        var message = ConfigurationErrors.Describe(new InvalidOperationException("Hosting failed", inner), CoordinatorCli.Create());

        Assert.Equal($"invalid configuration: {expected}; give a valid value (see --help)", message);
        Assert.Null(ConfigurationErrors.Describe(new InvalidOperationException("something else"), CoordinatorCli.Create()));
    }

    [Fact]
    public void Should_name_every_bad_peer_setting()
    {
        var errors = string.Join("\n", new PeerOptions { Model = "gpt-5", Classes = 1, Threads = -1, JoinTimeoutSeconds = 0 }.Validate());

        Assert.Contains("model: unknown model 'gpt-5'", errors);
        Assert.Contains("classes must be >= 2 (got 1)", errors);
        Assert.Contains("threads must be >= 0 (got -1)", errors);
        Assert.Contains("join-timeout must be > 0 seconds (got 0)", errors);
    }

    [Fact]
    public void Should_name_bad_data_options()
    {
        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "synthetic", ImageSize = 0, TestFraction = 1 }));

        Assert.Contains("Data:ImageSize is 0; it must lie in 1..4096", e.Message);
        Assert.Contains("Data:TestFraction is 1; it must lie strictly between 0 and 1", e.Message);
    }
}
