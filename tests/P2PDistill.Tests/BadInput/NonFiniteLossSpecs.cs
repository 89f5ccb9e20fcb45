using P2PDistill.Shared.Hosting;
using System.Globalization;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// A loss that turns NaN or infinite: the step is refused, the run stops with exit code 1, and what was written before it
/// (checkpoints, metrics, the evaluation) is kept intact. The loss is made to blow up in the second epoch only, by a step
/// schedule whose factor is 1e30, so that good checkpoints exist before the bad step.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class NonFiniteLossSpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-nan-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Epoch 1: lr 1e-3 (4 steps, checkpoints at steps 2 and 4). Epoch 2: lr 1e27, so step 5 wrecks the weights and step 6's loss is not finite.</summary>
    private NodeArgs Exploding(string runner) => NodeArgs.Coordinator().With(runner)
        .Synthetic(train: 256, test: 64).Models("tiny", "tiny").Students(2).BatchSize(32).Epochs(3).MaxSteps(4).CheckpointEvery(2).Threads(1)
        .Set("--schedule", "step").Config("Optimizer:StepEpochs", 1).Config("Optimizer:Gamma", "1e30").Output(dir, "nan");

    [Theory]
    [InlineData("--single-process")]
    [InlineData("--embedded")]
    public void Should_refuse_the_step_stop_the_run_and_keep_the_last_good_checkpoint_and_metrics(string runner)
    {
        var r = RunningProcess.Run(Exploding(runner), dir, TimeSpan.FromMinutes(3));

        Assert.True(r.ExitCode == (int)ExitCode.Failed, $"exit {r.ExitCode}\n{r.Output}");
        Assert.Contains("not finite at epoch 2 step 2", r.Output);
        Assert.Contains("the step was refused", r.Output);
        var run = Path.Combine(dir, "nan");
        Assert.Contains("stopped early", File.ReadAllText(Path.Combine(run, "summary.md")));

        // Checkpoints written before the bad step are all there and verify (every file matches its checksum).
        var store = new CheckpointStore(Path.Combine(run, "checkpoints"), 3);
        var checkpoints = store.List();
        Assert.Equal(["step-00000004", "step-00000002"], checkpoints.Select(Path.GetFileName));
        Assert.All(checkpoints, c => Assert.Null(CheckpointStore.Verify(c)));
        Assert.Equal(checkpoints[0], store.LatestGood());
        var manifest = CheckpointStore.ReadManifest(checkpoints[0]);
        Assert.Equal(4, manifest.Step);
        Assert.Equal((1, 0), (manifest.Epoch, manifest.StepInEpoch));
        Assert.Equal(["student-1", "student-2", "teacher"], manifest.Models.Select(m => m.Id).Order());
        Assert.Empty(Directory.GetDirectories(Path.Combine(run, "checkpoints"), ".*")); // no half-written checkpoint left behind

        // Metrics: every applied step (1..5) for every model, all finite; nothing of the refused step 6.
        var files = new RunFiles(run);
        var rows = files.Steps();
        Assert.Equal(Enumerable.Range(1, 5).SelectMany(s => Enumerable.Repeat((long)s, 3)), rows.Select(r => r.GlobalStep).Order());
        Assert.All(rows, r => Assert.True(double.IsFinite(r.Loss), r.ToString()));
        Assert.Equal(5, files.StepLog().Count);
        var evals = files.Evaluations();
        Assert.Equal(4, evals.Count); // epoch 1: teacher, 2 students, ensemble
        Assert.All(evals, e => Assert.Equal(4, e.GlobalStep));
    }
}
