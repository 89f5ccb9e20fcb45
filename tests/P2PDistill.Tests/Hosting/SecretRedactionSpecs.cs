using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PDistill.Coordinator.Hosting;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Hosting;

/// <summary>
/// The TLS password never lands in the run directory (config.json, metrics, plots) or in the coordinator's log, whether
/// it came through the key the documented environment variable P2PDISTILL_Node__Tls__Password binds to
/// (Node:Tls:Password) or through --tls-password-file.
/// </summary>
[Trait("Category", "Unit")]
public sealed class SecretRedactionSpecs : IDisposable
{
    private const string Secret = "s3cret-Pa55word-that-must-not-leak";
    private readonly TestPki pki = new();
    private readonly string output = Directory.CreateTempSubdirectory("p2pdistill-secret-").FullName;

    public void Dispose()
    {
        pki.Dispose();
        Directory.Delete(output, recursive: true);
    }

    [Fact]
    public void Should_keep_a_password_from_the_environment_variable_out_of_the_run_directory_and_the_log()
    {
        var node = Bind(new()
        {
            ["Node:Tls:Certificate"] = pki.Node("coordinator"), ["Node:Tls:CaCertificate"] = pki.CaPath,
            [TlsOptions.PasswordVariable["P2PDISTILL_".Length..].Replace("__", ":")] = Secret,
        });
        Assert.Equal(Secret, node.Tls.Password); // the setting really is there
        var (run, log) = WriteRun(node);
        AssertAbsent(Secret, run, log);
        Assert.Contains("\"password\": \"***\"", File.ReadAllText(Path.Combine(run, "config.json")));
    }

    [Fact]
    public void Should_keep_a_password_from_a_password_file_out_of_the_run_directory_and_the_log()
    {
        var passwordFile = Path.Combine(output, "password.txt");
        File.WriteAllText(passwordFile, Secret + "\n");
        var node = Bind(new()
        {
            ["Node:Tls:Certificate"] = pki.Node("coordinator"), ["Node:Tls:CaCertificate"] = pki.CaPath, ["Node:Tls:PasswordFile"] = passwordFile,
        });
        var (run, log) = WriteRun(node);
        AssertAbsent(Secret, run, log);
        Assert.Contains("password.txt", File.ReadAllText(Path.Combine(run, "config.json"))); // the file's name is no secret
    }

    private static NodeOptions Bind(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection("Node").Get<NodeOptions>()!;

    /// <summary>Sets up a coordinated run as the coordinator does (writing config.json and the metrics files); returns its folder and log.</summary>
    private (string Run, string Log) WriteRun(NodeOptions node)
    {
        var lines = new List<string>();
        using var logging = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new ListLogger(lines)));
        var training = TestCohorts.Options() with { OutputDirectory = output, RunName = "secret" };
        using var run = new CoordinatorRun(Options.Create(training), Options.Create(TestCohorts.SyntheticData(train: 64, test: 16)),
            Options.Create(new OptimizerOptions()), Options.Create(node), Options.Create(new ClusterRunOptions()), logging);
        Assert.True(File.Exists(Path.Combine(run.Run.Path, "config.json")));
        lock (lines) return (run.Run.Path, string.Join("\n", lines));
    }

    private static void AssertAbsent(string secret, string run, string log)
    {
        Assert.DoesNotContain(secret, log);
        var files = Directory.EnumerateFiles(run, "*", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
            Assert.False(File.ReadAllText(file).Contains(secret, StringComparison.Ordinal), $"{file} holds the TLS password");
    }
}
