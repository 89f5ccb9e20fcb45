using P2PDistill.Shared.Hosting;
using System.Security.Cryptography;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.BadInput;

/// <summary>A finished single-process run directory (checkpoints, metrics) that the resume tests must leave untouched.</summary>
public sealed class ExistingRun : IDisposable
{
    public ExistingRun()
    {
        Parent = Directory.CreateTempSubdirectory("p2pdistill-existing-").FullName;
        var r = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Synthetic(train: 128, test: 32).Models("tiny", "tiny")
            .BatchSize(32).Epochs(1).CheckpointEvery(2).Threads(1).Output(Parent, "run"), Parent, TimeSpan.FromMinutes(3));
        if (r.ExitCode != 0) throw new InvalidOperationException($"the run to resume did not train (exit {r.ExitCode}):\n{r.Output}");
    }

    public string Parent { get; }

    public string Path => System.IO.Path.Combine(Parent, "run");

    /// <summary>Every file and folder under the run directory with its size, SHA-256 and last write time.</summary>
    public SortedDictionary<string, string> Snapshot()
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var d in Directory.GetDirectories(Path, "*", SearchOption.AllDirectories))
            result[System.IO.Path.GetRelativePath(Path, d) + "/"] = "dir";
        foreach (var f in Directory.GetFiles(Path, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(f);
            result[System.IO.Path.GetRelativePath(Path, f)] = $"{info.Length} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))} {info.LastWriteTimeUtc.Ticks}";
        }
        return result;
    }

    public void Dispose() => Directory.Delete(Parent, recursive: true);
}

/// <summary>
/// Bad settings on the command line of both executables: exit code 2, one message naming the flag, the value and the fix,
/// and nothing written (no new run directory; an existing run given to --resume stays byte for byte as it was).
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class BadCommandLineSpecs(ExistingRun existing) : IClassFixture<ExistingRun>, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-badcli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static NodeArgs Tiny(string runner) => NodeArgs.Coordinator().With(runner).Synthetic(train: 128, test: 32).Models("tiny", "tiny");

    private static void AssertRefused(ProcessResult r, params string[] expected)
    {
        Assert.True(r.ExitCode == (int)ExitCode.BadInput, $"exit {r.ExitCode}\n{r.Output}");
        foreach (var text in expected) Assert.Contains(text, r.Stderr);
        Assert.DoesNotContain("Unhandled exception", r.Output);
        Assert.DoesNotContain("   at ", r.Output); // one clear line, no stack trace
    }

    [Theory]
    [InlineData("--port=0", new[] { "--temperature", "0" }, "--temperature must be > 0 and finite (got 0)")]
    [InlineData("--embedded", new[] { "--temperature", "0" }, "--temperature must be > 0 and finite (got 0)")]
    [InlineData("--port=0", new[] { "--temperature-ml", "-2" }, "--temperature-ml must be > 0 and finite (got -2)")]
    [InlineData("--embedded", new[] { "--weight-ce", "-1" }, "--weight-ce must be >= 0 and finite (got -1)")]
    [InlineData("--port=0", new[] { "--beta", "-0.5" }, "--beta must be >= 0 and finite (got -0.5)")]
    [InlineData("--embedded", new[] { "--alpha", "-1" }, "--alpha must be >= 0 and finite (got -1)")]
    [InlineData("--port=0", new[] { "--batch-size", "0" }, "--batch-size must be >= 1 (got 0)")]
    [InlineData("--embedded", new[] { "--epochs", "0" }, "--epochs must be >= 1 (got 0)")]
    [InlineData("--port=0", new[] { "--epochs", "two" }, "--epochs (Training:Epochs) is 'two', which is not a whole number")]
    [InlineData("--embedded", new[] { "--temperature", "warm" }, "--temperature (Training:Temperature) is 'warm', which is not a number")]
    [InlineData("--single-process", new[] { "--lr", "1e-3x" }, "--lr (Optimizer:LearningRate) is '1e-3x', which is not a number")]
    [InlineData("--embedded", new[] { "--lr", "0" }, "--lr: learning rate must be > 0 and finite (got 0)")]
    [InlineData("--embedded", new[] { "--teacher-model", "gpt-5" }, "--teacher-model: unknown model 'gpt-5'", "cnn-teacher")]
    public void Should_refuse_a_bad_hyper_parameter_on_the_coordinator_naming_the_flag(string runner, string[] bad, string message, string? alsoExpected = null)
    {
        var r = RunningProcess.Run(Tiny(runner).Output(dir).With(bad), dir, Timeout);

        AssertRefused(r, alsoExpected is null ? [message] : [message, alsoExpected]);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Theory]
    [InlineData("--embedded", "--temperature", "0", "--temperature must be > 0")]
    [InlineData("--port=0", "--epochs", "0", "--epochs must be >= 1")]
    [InlineData("--embedded", "--batch-size", "zero", "--batch-size (Training:BatchSize) is 'zero'")]
    [InlineData("--embedded", "--student-model", "cnn-teacher", "")] // valid, but the data below is missing
    public void Should_leave_an_existing_run_untouched_when_resuming_with_bad_settings(string runner, string flag, string value, string message)
    {
        var before = existing.Snapshot();
        Assert.Contains("checkpoints/step-00000004/manifest.json", before.Keys);
        string[] data = message.Length == 0 ? ["--dataset", "folder", "--data-path", Path.Combine(dir, "no-such-folder")] : [];

        var r = RunningProcess.Run(Tiny(runner).Resume(existing.Path).Output(existing.Parent).With(flag, value).With(data), dir, Timeout);

        AssertRefused(r, message.Length == 0 ? [Path.Combine(dir, "no-such-folder"), "does not exist"] : [message]);
        Assert.Equal(before, existing.Snapshot());
        Assert.Equal(["run"], Directory.GetDirectories(existing.Parent).Select(Path.GetFileName));
        var store = new CheckpointStore(Path.Combine(existing.Path, "checkpoints"), 3);
        Assert.All(store.List(), c => Assert.Null(CheckpointStore.Verify(c)));
    }

    [Theory]
    [InlineData(new[] { "--classes", "1" }, "classes must be >= 2 (got 1)")]
    [InlineData(new[] { "--classes", "ten" }, "--classes (Peer:Classes) is 'ten', which is not a whole number")]
    [InlineData(new[] { "--input-shape", "28x28" }, "--input-shape (Peer:InputShape) must be channels x height x width, like 1x28x28 (got '28x28')")]
    [InlineData(new[] { "--role", "boss" }, "--role (Peer:Role) must be teacher or student (got 'boss')")]
    [InlineData(new[] { "--model", "gpt-5" }, "model: unknown model 'gpt-5'", "cnn-student")]
    [InlineData(new[] { "--join-timeout", "0" }, "join-timeout must be > 0 seconds (got 0)")]
    [InlineData(new[] { "--temperature", "0" }, "Unknown option '--temperature'", "--classes")] // hyper-parameters belong to the coordinator
    [InlineData(new[] { "--seed-nodes", "127.0.0.1:4053" }, "seed node '127.0.0.1:4053' is not an address like akka.tcp://p2pdistill@host:port")]
    public void Should_refuse_a_bad_setting_on_a_peer_naming_the_flag(string[] bad, string message, string? alsoExpected = null)
    {
        var r = RunningProcess.Run(NodeArgs.Peer(seed: Loopback.Seed(1)).JoinTimeout(5).With(bad), dir, Timeout);

        AssertRefused(r, alsoExpected is null ? [message] : [message, alsoExpected]);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void Should_write_no_run_directory_when_the_dataset_is_missing_or_the_models_do_not_fit()
    {
        var missing = Path.Combine(dir, "fashion");
        var noData = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Dataset("fashion-mnist").DataPath(missing).Output(dir), dir, Timeout);
        var misfit = RunningProcess.Run(NodeArgs.Coordinator().SingleProcess().Synthetic().Config("Data:SyntheticSize", 32)
            .StudentModel("cnn-student").TeacherModel("tiny").Output(dir), dir, Timeout);

        AssertRefused(noData, missing, "apt-get install dataset-fashion-mnist");
        AssertRefused(misfit, "--student-model: model 'cnn-student' needs 28x28 inputs", "1x32x32", "tiny");
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }
}
