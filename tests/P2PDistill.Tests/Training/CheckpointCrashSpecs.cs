using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Training;

/// <summary>
/// A real coordinator (embedded runner) killed with SIGKILL at each point of a checkpoint write, through the test hook
/// <see cref="CheckpointCrash.Variable"/>: the next <c>--resume</c> must find the newest whole checkpoint, finish the run,
/// and leave no temporary or aside folder behind.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class CheckpointCrashSpecs : IDisposable
{
    private const int KilledBySigkill = 128 + 9;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-ckpt-crash-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Run => Path.Combine(dir, "run");

    private string Checkpoints => Path.Combine(Run, "checkpoints");

    // 8 steps an epoch, stopped at 6: checkpoints at steps 2, 4 and 6, the newest 2 kept.
    private NodeArgs Settings() => NodeArgs.Coordinator().Embedded().Synthetic(train: 256, test: 32).Models("tiny", "tiny").Students(1)
        .BatchSize(32).Epochs(1).MaxSteps(6).CheckpointEvery(2).KeepCheckpoints(2).Threads(1);

    private ProcessResult Start(NodeArgs args, string? crashAt = null) => RunningProcess.Run(args.Command,
        new ProcessOptions(dir) { Environment = crashAt is null ? null : new Dictionary<string, string> { [CheckpointCrash.Variable] = crashAt } },
        Timeout, "coordinator");

    private IEnumerable<string> Leftovers() => Directory.GetDirectories(Checkpoints, ".*").Select(Path.GetFileName)!;

    [Theory]
    [InlineData("after-state-files@4", ".step-00000004.*.tmp", "step-00000002")]
    [InlineData("after-manifest@4", ".step-00000004.*.tmp", "step-00000002")]
    [InlineData("after-prune-aside@6", ".step-00000002.*.tmp", "step-00000006")]
    public void Should_resume_from_the_newest_whole_checkpoint_after_a_kill_while_writing_one(string crashAt, string leftover, string resumedFrom)
    {
        var killed = Start(Settings().Output(dir, "run"), crashAt);

        AssertKilled(killed, crashAt, leftover);
        AssertResumes(resumedFrom);
    }

    [Theory]
    [InlineData("after-aside@6", ".step-00000006.old", "step-00000004")] // the corrupt step 6 moved back, then skipped
    [InlineData("after-move-in@6", ".step-00000006.old", "step-00000006")] // the new step 6 landed; the old one is swept
    public void Should_resume_from_the_newest_whole_checkpoint_after_a_kill_while_replacing_one(string crashAt, string leftover, string resumedFrom)
    {
        var first = Start(Settings().Output(dir, "run"));
        Assert.True(first.ExitCode == (int)ExitCode.Completed, first.Output);
        // A corrupt step 6: the resumed run starts from step 4 and writes step 6 again, over the corrupt one.
        var file = Path.Combine(Checkpoints, "step-00000006", "teacher.state");
        var bytes = File.ReadAllBytes(file);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(file, bytes);

        var killed = Start(Settings().Resume(Run).Output(dir), crashAt);

        AssertKilled(killed, crashAt, leftover);
        Assert.Contains("Resuming run", killed.Output);
        AssertResumes(resumedFrom);
    }

    private void AssertKilled(ProcessResult killed, string crashAt, string leftover)
    {
        Assert.True(killed.ExitCode == KilledBySigkill, $"exit {killed.ExitCode}, not killed at {crashAt}:\n{killed.Output}");
        Assert.Contains($"{CheckpointCrash.Variable}={crashAt}", killed.Output);
        Assert.Contains(Directory.GetDirectories(Checkpoints, leftover), _ => true);
    }

    private void AssertResumes(string from)
    {
        var resumed = Start(Settings().Resume(Run).Output(dir));

        Assert.True(resumed.ExitCode == (int)ExitCode.Completed, resumed.Output);
        Assert.Contains($"from {from}: step", resumed.Output);
        Assert.Empty(Leftovers());
        // The resumed run ends at the run's last step (from its final checkpoint it trains nothing more): every checkpoint
        // kept is whole, the newest first.
        var store = new CheckpointStore(Checkpoints, 2);
        Assert.Equal(2, store.List().Count);
        Assert.All(store.List(), c => Assert.Null(CheckpointStore.Verify(c)));
        Assert.Equal(store.List()[0], store.LatestGood());
        Assert.Equal(6, CheckpointStore.ReadManifest(store.List()[0]).Step);
    }

    /// <summary>
    /// Issue 16: a --resume of a run whose every step is done (or that was killed after its final checkpoint, before its
    /// export) trains nothing (it trained one more epoch before), exports the models again and ends as completed.
    /// </summary>
    [Fact]
    public void Should_train_nothing_more_when_resuming_a_finished_run_and_export_again()
    {
        var first = Start(Settings().Output(dir, "run"));
        Assert.True(first.ExitCode == (int)ExitCode.Completed, first.Output);
        var steps = File.ReadAllLines(Path.Combine(Run, "metrics", "steps.csv"));
        var checkpoints = new CheckpointStore(Checkpoints, 2).List();
        var exports = Path.Combine(Run, "models");
        var exported = Directory.GetFiles(exports, "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order().ToList();
        Assert.NotEmpty(exported);
        Directory.Delete(exports, recursive: true); // as if killed after the final checkpoint, before the export

        var resumed = Start(Settings().Resume(Run).Output(dir));

        Assert.True(resumed.ExitCode == (int)ExitCode.Completed, resumed.Output);
        Assert.Contains("from step-00000006: step 6", resumed.Output);
        Assert.Contains("nothing left to train", resumed.Output);
        Assert.Equal(steps, File.ReadAllLines(Path.Combine(Run, "metrics", "steps.csv")));
        Assert.Equal(checkpoints, new CheckpointStore(Checkpoints, 2).List());
        Assert.Equal(exported, Directory.GetFiles(exports, "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order().ToList());
        // The resumed part made no evaluation: the summary and the model cards take the last one from eval.csv.
        var summary = File.ReadAllText(Path.Combine(Run, "summary.md"));
        Assert.DoesNotContain("no evaluation was made", summary);
        Assert.Contains("Test metrics after epoch 1:", summary);
        foreach (var id in new[] { "teacher", "student-1" })
        {
            var card = Path.Combine(exports, id + Shared.Export.ModelExporter.CardExtension);
            Assert.True(Shared.Export.ModelCard.FromJson(File.ReadAllText(card), card).FinalMetrics?.Accuracy is not null, $"{card}: no final metrics");
        }
    }
}
