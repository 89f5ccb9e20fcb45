using P2PDistill.Shared.Hosting;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Coordinator.Experiments;

namespace P2PDistill.Tests.Experiments;

/// <summary>Shared by the experiment command's tests: tiny models on a small synthetic set, a few steps per run.</summary>
internal static class ExperimentRuns
{
    /// <remarks>No --threads: setting libtorch's threads inside the test host would change the rounding of other tests' runs.</remarks>
    public static string[] Tiny(string output, params string[] extra) =>
    [
        "--dataset", "synthetic", "--teacher-model", "tiny", "--student-model", "tiny", "--batch-size", "32", "--max-steps", "3",
        "--Data:SyntheticTrain=128", "--Data:SyntheticTest=64", "--output", output, .. extra,
    ];

    public static async Task<(int Code, string Out, string Err)> Run(string[] args, CancellationToken cancellation = default)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await ExperimentCommand.RunAsync(args, output, error, cancellation);
        return (code, output.ToString(), error.ToString());
    }

    public static string[] Rows(string output) => File.ReadAllLines(Path.Combine(output, "results.csv"))[1..];
}

/// <summary>The experiment command end to end, in process: runs, files, report, and continuing where it stopped.</summary>
[Trait("Category", "Unit")]
public sealed class ExperimentCommandSpecs : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-experiment-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public async Task Should_run_every_mode_and_seed_write_the_report_and_continue_where_it_stopped()
    {
        var output = Path.Combine(dir, "exp");
        var (code, stdout, stderr) = await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "kd,kd-ml", "--seeds", "1,2"));
        Assert.True(code == (int)ExitCode.Completed, stdout + stderr);
        Assert.Contains("4 run(s), 0 already done, 4 to do", stdout);

        var rows = ExperimentRuns.Rows(output);
        Assert.Equal(4, rows.Length);
        var parsed = rows.Select(ExperimentRow.FromCsv).ToList();
        Assert.Equal(["kd/1", "kd-ml/1", "kd/2", "kd-ml/2"], parsed.Select(r => $"{r.Key.Mode}/{r.Key.Seed}"));
        Assert.All(parsed, r => Assert.Equal((2, 3L), (r.Students.Count, r.Steps)));
        Assert.All(parsed, r => Assert.InRange(r.Ensemble, 0, 1));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(output, "results.jsonl")).Length);
        // Each run keeps its own metrics: 3 steps of teacher + 2 students.
        Assert.Equal(3, new RunFiles(Path.Combine(output, "runs", "s2-T1-kd-ml-seed2")).StepLog().Count);

        var report = File.ReadAllText(Path.Combine(output, "results.md"));
        Assert.Contains("| mode | seeds | teacher | student-1 | student-2 | student mean | student ensemble |", report);
        var kdml = parsed.Where(r => r.Key.Mode == "kd-ml").Select(r => r.Ensemble).ToArray();
        Assert.Contains($"| kd-ml | 2 |", report);
        Assert.Contains(MeanStd.Of(kdml).Format(), report);
        Assert.Contains("**Verdict.** teacher + 2 students, T = 1: does kd-ml's student ensemble beat kd's?", report);
        Assert.Contains(report, stdout);
        var png = File.ReadAllBytes(Path.Combine(output, "plots", "accuracy-s2-T1.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);

        // Restarted with one more seed: only the new seed's runs are made; the finished rows stay as they were.
        (code, stdout, stderr) = await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "kd,kd-ml", "--seeds", "1,2,3"));
        Assert.True(code == (int)ExitCode.Completed, stdout + stderr);
        Assert.Contains("6 run(s), 4 already done, 2 to do", stdout);
        var after = ExperimentRuns.Rows(output);
        Assert.Equal(rows, after[..4]);
        Assert.Equal(["kd/3", "kd-ml/3"], after[4..].Select(ExperimentRow.FromCsv).Select(r => $"{r.Key.Mode}/{r.Key.Seed}"));
        Assert.Contains("| kd-ml | 3 |", File.ReadAllText(Path.Combine(output, "results.md")));

        // Nothing left to do: no training, the same rows, the report rebuilt.
        (code, stdout, _) = await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "kd,kd-ml", "--seeds", "1,2,3"));
        Assert.Equal((int)ExitCode.Completed, code);
        Assert.Contains("6 already done, 0 to do", stdout);
        Assert.Equal(after, ExperimentRuns.Rows(output));
    }

    [Fact]
    public async Task Should_run_independent_once_for_a_temperature_sweep_and_tabulate_the_sweep()
    {
        var output = Path.Combine(dir, "sweep");
        var (code, stdout, stderr) = await ExperimentRuns.Run(ExperimentRuns.Tiny(output, "--modes", "independent,ml", "--seeds", "1", "--temperatures", "1,4"));
        Assert.True(code == (int)ExitCode.Completed, stdout + stderr);
        var keys = ExperimentRuns.Rows(output).Select(ExperimentRow.FromCsv).Select(r => r.Key).ToList();
        Assert.Equal(3, keys.Count); // independent once, ml at T 1 and T 4
        Assert.Single(keys, k => k.Mode == "independent" && k.Temperature is null);
        var report = File.ReadAllText(Path.Combine(output, "results.md"));
        Assert.Contains("## teacher + 2 students, T = 4", report);
        Assert.Contains("## Temperature sweep", report);
        Assert.Contains("| T | independent | ml |", report);
        Assert.True(File.Exists(Path.Combine(output, "plots", "temperature-sweep-s2.png")));
    }
}
