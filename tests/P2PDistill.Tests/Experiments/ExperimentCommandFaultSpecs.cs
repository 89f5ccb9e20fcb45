using P2PDistill.Shared.Hosting;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Coordinator.Experiments;

namespace P2PDistill.Tests.Experiments;

/// <summary>The experiment command on bad input, a changed setting, a torn results file and an interruption.</summary>
[Trait("Category", "Fault")]
public sealed class ExperimentCommandFaultSpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-experiment-fault-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("--modes", "kd,fancy", "--modes: a mode must be independent, kd, ml or kd-ml (got 'fancy')")]
    [InlineData("--seeds", "1,x", "--seeds: 'x'")]
    [InlineData("--students", "0", "--students: '0'")]
    [InlineData("--temperatures", "-1", "--temperatures must be > 0 and finite (got '-1')")]
    [InlineData("--epochs", "0", "epochs must be >= 1")]
    [InlineData("--lr", "0", "learning rate must be > 0")]
    public async Task Should_exit_2_naming_the_bad_option_before_any_run(string flag, string value, string message)
    {
        var output = Path.Combine(dir, "bad");
        var (code, _, error) = await ExperimentRuns.Run(ExperimentRuns.Tiny(output, flag, value));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains(message, error);
        Assert.False(File.Exists(Path.Combine(output, "results.csv")));
    }

    [Fact]
    public async Task Should_refuse_to_mix_runs_made_with_other_settings_into_one_folder()
    {
        var output = Path.Combine(dir, "mixed");
        Assert.Equal((int)ExitCode.Completed, (await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "kd", "--seeds", "1"))).Code);
        var (code, _, error) = await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "kd", "--seeds", "2", "--epochs", "2"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("epochs: 1 then, 2 now", error);
        Assert.Single(ExperimentRuns.Rows(output));
    }

    [Fact]
    public async Task Should_redo_a_run_whose_row_was_torn_by_a_kill()
    {
        var output = Path.Combine(dir, "torn");
        string[] args = ExperimentRuns.Tiny(output, "--modes", "kd,ml", "--seeds", "1");
        Assert.Equal((int)ExitCode.Completed, (await ExperimentRuns.Run(args)).Code);
        var csv = Path.Combine(output, "results.csv");
        var whole = File.ReadAllText(csv);
        File.WriteAllText(csv, whole[..(whole.Length - 20)]); // the last row cut short, no newline

        var (code, stdout, error) = await ExperimentRuns.Run(args);
        Assert.True(code == (int)ExitCode.Completed, stdout + error);
        Assert.Contains("skipped an unreadable row", error);
        Assert.Contains("2 run(s), 1 already done, 1 to do", stdout);
        var before = whole.TrimEnd().Split('\n')[1..].Select(ExperimentRow.FromCsv).ToList();
        var rows = File.ReadAllLines(csv);
        Assert.Equal(ExperimentMetrics.Classification.CsvHeader, rows[0]);
        var now = rows[1..].Select(ExperimentRow.FromCsv).ToList(); // whole rows only: the torn one is gone
        Assert.Equal(before.Select(r => r.Key), now.Select(r => r.Key));
        // The redone run gives the same accuracies (same seeds, same data).
        Assert.Equal(before[^1].Students, now[^1].Students);
        Assert.Equal((before[^1].Teacher, before[^1].Ensemble), (now[^1].Teacher, now[^1].Ensemble));
        Assert.DoesNotContain("unreadable", (await ExperimentRuns.Run(args)).Err);
    }

    [Fact]
    public async Task Should_stop_when_cancelled_keep_no_partial_row_and_say_how_to_continue()
    {
        var output = Path.Combine(dir, "stopped");
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var (code, stdout, _) = await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "kd", "--seeds", "1,2"), cancelled.Token);
        Assert.Equal(ExperimentCommand.Interrupted, code);
        Assert.Contains("rerun the same command to continue", stdout);
        Assert.False(File.Exists(Path.Combine(output, "results.csv")));
        Assert.Contains("**incomplete**: 2 of 2 runs", File.ReadAllText(Path.Combine(output, "results.md")));
    }

    /// <summary>
    /// Issue 16 (the disk): a write that fails for want of space (results.jsonl made a link to /dev/full, which answers every
    /// write with ENOSPC, as a full disk does) ends the command with one clear line naming the file and what to do, not
    /// "unexpected error" and a stack trace; the rows already written are kept and the rerun continues from them.
    /// </summary>
    [Fact]
    public async Task Should_name_the_file_and_what_to_do_when_the_disk_is_full_and_keep_the_rows_written()
    {
        var output = Path.Combine(dir, "full");
        Assert.Equal((int)ExitCode.Completed, (await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "kd", "--seeds", "1"))).Code);
        var jsonl = Path.Combine(output, "results.jsonl");
        var kept = File.ReadAllText(jsonl);
        File.Move(jsonl, jsonl + ".saved");
        File.CreateSymbolicLink(jsonl, "/dev/full");
        string[] both = ExperimentRuns.Tiny(output, "--modes", "kd,ml", "--seeds", "1");

        var (code, _, error) = await ExperimentRuns.Run(both);

        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("experiment: error: ", error);
        Assert.Contains("No space left on device", error);
        Assert.Contains("results.jsonl", error);
        Assert.Contains("free space", error);
        Assert.DoesNotContain("unexpected error", error);
        Assert.DoesNotContain("   at ", error); // no stack trace
        Assert.Single(ExperimentRuns.Rows(output)); // the kd row is kept, the ml run is not recorded

        File.Delete(jsonl);
        File.Move(jsonl + ".saved", jsonl);
        var (again, stdout, _) = await ExperimentRuns.Run(both);
        Assert.Equal((int)ExitCode.Completed, again);
        Assert.Contains("2 run(s), 1 already done, 1 to do", stdout);
        Assert.Equal(2, ExperimentRuns.Rows(output).Length);
        Assert.StartsWith(kept, File.ReadAllText(jsonl));
    }
}
