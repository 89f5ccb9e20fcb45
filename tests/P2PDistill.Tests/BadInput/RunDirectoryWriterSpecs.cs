using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Runs;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// One writer per run directory, with real processes: a second coordinator resuming a run a live one holds is refused
/// (exit 2, naming the holder's pid) and the holder keeps running; a holder killed with SIGKILL leaves a lock the next
/// process takes over. And --resume with other settings than the run's config.json is refused, naming each difference,
/// with the run untouched; settings that may change (threads, checkpoint cadence, timeouts, port) are accepted.
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class RunDirectoryWriterSpecs(ExistingRun existing) : IClassFixture<ExistingRun>, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-writer-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A cluster coordinator resuming the existing run with its settings (ExistingRun's), on a free port.</summary>
    private NodeArgs Resume() => NodeArgs.Coordinator().Port(0).Synthetic(train: 128, test: 32).Models("tiny", "tiny").BatchSize(32).Epochs(1)
        .Resume(existing.Path).Output(existing.Parent);

    private static void AssertRefused(ProcessResult r, params string[] expected)
    {
        Assert.True(r.ExitCode == (int)ExitCode.BadInput, $"exit {r.ExitCode}\n{r.Output}");
        foreach (var text in expected) Assert.Contains(text, r.Stderr);
        Assert.DoesNotContain("   at ", r.Output);
    }

    [Fact]
    public void Should_refuse_a_second_coordinator_on_a_run_a_live_one_writes_and_let_a_third_take_over_once_the_first_is_killed()
    {
        // The first resumes with settings a resume may change, and waits for its cohort (none comes): it holds the run.
        using var first = RunningProcess.Start("first", Resume().Threads(2).CheckpointEvery(3).StepTimeout(30).MinStudents(2).Command,
            new ProcessOptions(dir));
        first.WaitFor("Resuming run", Timeout);

        var second = RunningProcess.Run(Resume(), dir, Timeout);

        AssertRefused(second, $"'{existing.Path}' is in use by another run of this program (pid {first.ProcessId} on host {Environment.MachineName}, since ",
            Path.Combine(existing.Path, RunLock.FileName));
        Assert.False(first.HasExited, first.Tail());

        first.Kill(); // SIGKILL: no clean-up, the holder file stays; the OS releases the flock
        Assert.True(File.Exists(Path.Combine(existing.Path, RunLock.HolderFileName)));
        using var third = RunLock.Acquire(existing.Path);
        Assert.StartsWith($"pid {Environment.ProcessId} ", RunLock.ReadHolder(existing.Path));
    }

    [Fact]
    public void Should_name_the_runs_holder_when_the_same_resume_is_started_twice_on_the_same_port()
    {
        // The same command twice: the second finds the port taken too, but what it must say is who holds the run.
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var first = RunningProcess.Start("first", Resume().Port(port).MinStudents(2).Command, new ProcessOptions(dir));
        first.WaitFor("Resuming run", Timeout);

        var second = RunningProcess.Run(Resume().Port(port).MinStudents(2), dir, Timeout);

        AssertRefused(second, $"'{existing.Path}' is in use by another run of this program (pid {first.ProcessId} on host {Environment.MachineName}, since ");
        Assert.False(first.HasExited, first.Tail());
    }

    [Fact]
    public void Should_refuse_a_resume_with_other_settings_naming_every_difference_and_leave_the_run_untouched()
    {
        var before = existing.Snapshot();

        var r = RunningProcess.Run(Resume().BatchSize(16).Set("--seed", "2").Set("--lr", "0.01").Set("--alpha", "0.5").Set("--max-steps", "3")
            .Threads(2).CheckpointEvery(5).StepTimeout(30), dir, Timeout);

        AssertRefused(r, "resume: 6 setting(s) differ from the run's config.json",
            "--batch-size (training.batch_size): 32 in the run, 16 now",
            "--seed (training.seed): 1 in the run, 2 now",
            "--seed (data.seed): 1 in the run, 2 now",
            "--lr (optimizer.learning_rate): 0.001 in the run, 0.01 now",
            "--alpha (training.alpha): 1 in the run, 0.5 now",
            "--max-steps (training.max_steps_per_epoch): 0 in the run, 3 now");
        Assert.DoesNotContain("training.threads", r.Stderr);
        Assert.DoesNotContain("training.checkpoint_every_steps", r.Stderr);
        Assert.Equal(before, existing.Snapshot());
    }

    [Fact]
    public void Should_refuse_an_empty_test_split_at_start_naming_the_split_the_data_set_and_its_path()
    {
        var data = Path.Combine(dir, "idx");
        TestFiles.WriteIdxSet(data, gzip: true, train: 40, test: 0);
        var output = Path.Combine(dir, "runs");

        foreach (var runner in new[] { "--single-process", "--port=0" })
        {
            var r = RunningProcess.Run(NodeArgs.Coordinator().With(runner).Dataset("fashion-mnist").DataPath(data).Models("cnn-teacher", "cnn-student")
                .BatchSize(8).Epochs(1).Threads(1).Set("--eval-timeout", "3600").Output(output), dir, Timeout);

            AssertRefused(r, $"Data set 'fashion-mnist' at '{data}': its test split (fashion-mnist/test) has no images");
            Assert.False(Directory.Exists(output), runner);
        }
    }
}
