using P2PDistill.Coordinator.Cli;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Hosting;

/// <summary>Bad configuration and bad names get errors that name the input and what to do.</summary>
[Trait("Category", "Unit")]
public sealed class ConfigurationSpecs
{
    [Fact]
    public void Should_list_the_known_models_for_an_unknown_name()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelRegistry.Create("resnet-9000", new ModelSpec(1, 28, 28, 10)));
        Assert.Contains("resnet-9000", e.Message);
        Assert.Contains("cnn-teacher", e.Message);
        Assert.Contains("cnn-student", e.Message);
        Assert.Contains("mobilenet-v2", e.Message);
    }

    [Fact]
    public void Should_refuse_a_model_that_cannot_take_the_input_shape()
    {
        var why = ModelRegistry.Validate("cnn-student", new ModelSpec(3, 64, 64, 2));
        Assert.NotNull(why);
        Assert.Contains("28x28", why);
    }

    [Theory]
    [InlineData("cnn-teacher", 1_000_000, 700_000)]
    [InlineData("cnn-student", 120_000, 95_000)]
    public void Should_report_parameter_counts_of_the_default_models(string name, long below, long above)
    {
        using var model = ModelRegistry.Create(name, new ModelSpec(1, 28, 28, 10));
        var count = ModelRegistry.ParameterCount(model);
        Assert.InRange(count, above, below);
    }

    [Fact]
    public void Should_name_every_invalid_hyper_parameter()
    {
        var o = new TrainingOptions { Epochs = 0, BatchSize = 0, Temperature = 0, Alpha = -1, Beta = -2, TeacherModel = "nope" };
        var errors = string.Join("\n", o.Validate());
        Assert.Contains("epochs must be >= 1", errors);
        Assert.Contains("batch-size must be >= 1", errors);
        Assert.Contains("--temperature must be > 0", errors);
        Assert.Contains("alpha must be >= 0", errors);
        Assert.Contains("teacher-model: unknown model 'nope'", errors);
    }

    [Fact]
    public void Should_name_a_bad_learning_rate()
    {
        Assert.Contains("learning rate", new OptimizerOptions { LearningRate = 0 }.Validate());
    }

    [Fact]
    public void Should_name_an_unknown_dataset()
    {
        var e = Assert.Throws<DatasetException>(() => DatasetFactory.Load(new DataOptions { Dataset = "imagenet-22k" }));
        Assert.Contains("imagenet-22k", e.Message);
        Assert.Contains("fashion-mnist", e.Message);
    }

    [Fact]
    public void Should_map_friendly_flags_to_configuration_keys()
    {
        var parsed = CoordinatorCli.Create().Parse(["--single-process", "--epochs", "3", "--batch-size=64", "--seed", "9", "--Training:Alpha=0.5"]);
        Assert.Equal("true", parsed.Values["Run:SingleProcess"]);
        Assert.Equal("3", parsed.Values["Training:Epochs"]);
        Assert.Equal("64", parsed.Values["Training:BatchSize"]);
        Assert.Equal("9", parsed.Values["Training:Seed"]);
        Assert.Equal("9", parsed.Values["Data:Seed"]);
        Assert.Equal("0.5", parsed.Values["Training:Alpha"]);
    }

    [Fact]
    public void Should_reject_an_unknown_flag_and_list_the_known_ones()
    {
        var e = Assert.Throws<CommandLineException>(() => CoordinatorCli.Create().Parse(["--epocs", "3"]));
        Assert.Contains("--epocs", e.Message);
        Assert.Contains("--epochs", e.Message);
    }

    [Fact]
    public void Should_say_when_a_flag_lacks_its_value()
    {
        var e = Assert.Throws<CommandLineException>(() => CoordinatorCli.Create().Parse(["--epochs", "--seed", "1"]));
        Assert.Contains("--epochs", e.Message);
        Assert.Contains("needs a value", e.Message);
    }
}
