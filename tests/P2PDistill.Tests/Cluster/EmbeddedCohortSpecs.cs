using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Shared.Settings;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>Coordinator and model actors in one actor system, every message forced through its serializer.</summary>
[Trait("Category", "Unit")]
public sealed class EmbeddedCohortSpecs
{

    [Theory]
    [InlineData("ship")]
    [InlineData("local")]
    public async Task Should_compute_what_the_single_process_trainer_computes(string dataMode)
    {
        var dataOptions = TestCohorts.SyntheticData(train: 256, test: 64) with { Mode = SettingNames.Of<DataMode>().Parse(dataMode) };
        var data = TestCohorts.Load(dataOptions);
        var options = TestCohorts.Options(epochs: 2, teacher: "cnn-teacher");
        var plan = new TrainingPlan(options, dataOptions, data, Normalization.Identity(1), new OptimizerOptions { LearningRate = 1e-2 });

        var reference = new Recorder();
        using (var cohort = new CohortTrainer(plan, NullLogger.Instance)) cohort.Run(reference);

        var (result, recorder) = await TestCohorts.RunEmbedded(plan, "cnn-teacher", "tiny", "tiny");

        Assert.True(result.Completed, result.StopReason);
        reference.AssertSameLosses(recorder);
        Assert.Equal(2, recorder.Evaluations.Count);
        var final = recorder.Evaluations[^1];
        var referenceFinal = reference.Evaluations[^1];
        Assert.Equal(referenceFinal.StudentEnsemble!.Headline, final.StudentEnsemble!.Headline, 1e-9);
        Assert.True(recorder.Steps.All(r => r.BytesSent > 0 && r.BytesReceived > 0));
    }
}
