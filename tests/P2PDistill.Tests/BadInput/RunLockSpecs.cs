using P2PDistill.Coordinator.Commands;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Runs;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// The run directory's lock within one process: a second open of DIR/.lock is refused like a second process (flock is per
/// open file), the refusal names the holder, and a released lock is taken again. The lock across real processes, and its
/// take-over from a killed holder, are in <see cref="RunDirectoryWriterSpecs"/>.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RunLockSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Should_refuse_a_second_holder_naming_the_first_until_it_releases()
    {
        var held = RunLock.Acquire(dir.Path);

        Assert.Null(RunLock.TryAcquire(dir.Path));
        var e = Assert.Throws<RunLockedException>(() => RunLock.Acquire(dir.Path));
        Assert.Contains($"'{dir.Path}' is in use by another run", e.Message);
        Assert.Contains($"pid {Environment.ProcessId} on host {Environment.MachineName}, since ", e.Message);
        Assert.Contains(dir.Combine(RunLock.FileName), e.Message);

        held.Dispose();
        Assert.False(File.Exists(dir.Combine(RunLock.HolderFileName)));
        using var again = RunLock.Acquire(dir.Path);
        Assert.StartsWith($"pid {Environment.ProcessId} ", RunLock.ReadHolder(dir.Path));
    }

    [Fact]
    public void Should_not_call_a_missing_folder_locked()
    {
        Assert.Throws<DirectoryNotFoundException>(() => RunLock.TryAcquire(dir.Combine("no-such-run")));
    }

    [Fact]
    public void Should_give_a_new_run_another_folder_when_its_name_is_held_by_a_run_that_has_not_written_its_config_yet()
    {
        using var first = RunDirectory.Create(dir.Path, "run");
        using var second = RunDirectory.Create(dir.Path, "run");

        Assert.Equal(dir.Combine("run"), first.Path);
        Assert.Equal(dir.Combine("run-2"), second.Path);
        Assert.Null(RunLock.TryAcquire(first.Path));
        Assert.Null(RunLock.TryAcquire(second.Path));
    }

    [Fact]
    public void Should_release_a_new_run_folder_when_the_run_directory_is_disposed()
    {
        var run = RunDirectory.Create(dir.Path, "run");
        run.Dispose();

        using var taken = RunLock.Acquire(run.Path);
    }

    [Fact]
    public async Task Should_refuse_an_experiment_in_a_folder_another_experiment_writes()
    {
        var output = dir.CreateDirectory("experiment");
        using var held = RunLock.Acquire(output);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = await ExperimentCommand.RunAsync(["--output", output, "--dataset", "synthetic", "--Data:SyntheticTrain=64", "--Data:SyntheticTest=16",
            "--teacher-model", "tiny", "--student-model", "tiny", "--batch-size", "32", "--seeds", "1", "--modes", "kd", "--threads", "1"], stdout, stderr);

        Assert.Equal((int)ExitCode.BadInput, code);
        Assert.Contains($"'{output}' is in use by another run of this program (pid {Environment.ProcessId} on host", stderr.ToString());
        Assert.False(File.Exists(Path.Combine(output, "results.md")));
    }
}
