using P2PDistill.Shared.Hosting;
using System.Text.RegularExpressions;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Namespace;

/// <summary>
/// deploy/netns-cluster.sh end to end: the coordinator, a teacher and two students, each in its own Linux network
/// namespace with its own address, train over a bridge, as on four machines. Needs root and iproute2; where the
/// machine does not allow namespaces the test is skipped and says why.
/// </summary>
[Trait("Category", "Namespace")]
[Collection(ProcessTests.Name)]
public sealed partial class NetnsClusterSpecs : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private const int ScriptTimeoutSeconds = 150; // the script stops itself (and cleans up) before the test gives up
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-netns-").FullName;
    private readonly string id = "t" + Convert.ToHexString(Guid.NewGuid().ToByteArray(), 0, 4).ToLowerInvariant();
    private readonly string script = Path.Combine(RepoRoot(), "deploy", "netns-cluster.sh");

    public void Dispose()
    {
        // Safety net: the script removes its namespaces itself; this only matters when it was killed.
        if (OwnNamespaces().Count > 0) Run("bash", [script, "--cleanup", id], TimeSpan.FromSeconds(60));
        Directory.Delete(dir, recursive: true);
    }

    [SkippableFact]
    public void Should_train_with_every_node_in_its_own_network_namespace()
    {
        var unavailable = WhyNamespacesAreUnavailable();
        Skip.If(unavailable is not null, $"network namespaces are not available here: {unavailable}");

        var run = Run("bash",
            [script, "--netns-id", id, "--timeout", ScriptTimeoutSeconds.ToString(), "--output", dir, "--run-name", "run",
             "--dataset", "synthetic", "--teacher-model", "tiny", "--student-model", "tiny", "--classes", "4",
             "--epochs", "1", "--max-steps", "10", "--batch-size", "32"],
            Limit, new() { ["P2PDISTILL_BIN"] = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar) });

        Assert.True(run.ExitCode == (int)ExitCode.Completed, $"netns-cluster.sh exited {run.ExitCode}:\n{run.Output}");

        // Four nodes, four addresses, none on loopback: the coordinator is up at its namespace's address and accepted
        // the three models from three others. (Cluster membership alone is not enough: in a 10-step run a peer can
        // train and leave while its membership is still "joining" or "weakly up", so no node logs it as up.)
        var logs = Path.Combine(dir, "run", "logs");
        var coordinatorLog = File.ReadAllText(Path.Combine(logs, "coordinator.log"));
        Assert.Contains("cluster: member up akka.tcp://p2pdistill@10.213.7.2:4053 roles [coordinator]", coordinatorLog);
        var accepted = Accepted().Matches(coordinatorLog).Select(m => (Model: m.Groups["model"].Value, Ip: m.Groups["ip"].Value)).Distinct().ToList();
        var addresses = accepted.Select(a => a.Ip).Append("10.213.7.2").ToHashSet();
        Assert.True(addresses.SetEquals(["10.213.7.2", "10.213.7.3", "10.213.7.11", "10.213.7.12"]) && accepted.Contains(("teacher", "10.213.7.3")),
            $"expected the coordinator at 10.213.7.2 and the teacher and students at .3, .11 and .12, got [{string.Join(", ", accepted)}]:\n{coordinatorLog}");
        foreach (var node in new[] { "coordinator", "teacher", "student-1", "student-2" })
            Assert.DoesNotContain("akka.tcp://p2pdistill@127.0.0.1", File.ReadAllText(Path.Combine(logs, node + ".log")));

        // The run itself: 10 steps of three models, and the evaluation with the student ensemble.
        var files = new RunFiles(Path.Combine(dir, "run"));
        Assert.Equal(10 * 3, files.Steps().Count); // with the header checked
        Assert.Contains(files.Evaluations(), e => e.Model == "student-ensemble");

        // Nothing left behind: no namespace of this run (and with them the bridge and every veth pair).
        Assert.Empty(OwnNamespaces());
        Assert.Contains($"removed the namespaces of run {id}", run.Output);
    }

    [GeneratedRegex(@"Accepted (?<model>teacher|student-\d+) \(tiny\) from akka\.tcp://p2pdistill@(?<ip>10\.213\.7\.\d+):\d+")]
    private static partial Regex Accepted();

    /// <summary>Null when namespaces can be created here; otherwise why not (not root, no ip, --check failed).</summary>
    private string? WhyNamespacesAreUnavailable()
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        if (!Environment.IsPrivilegedProcess) return "the tests do not run as root (creating namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN)";
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/bin/ip"))
            return "the 'ip' command (iproute2) is not installed";
        var check = Run("bash", [script, "--check"], TimeSpan.FromSeconds(60));
        return check.ExitCode == (int)ExitCode.Completed ? null : $"deploy/netns-cluster.sh --check exited {check.ExitCode}: {check.Output.Trim()}";
    }

    private List<string> OwnNamespaces()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/run/netns")) return [];
        return Directory.GetFiles("/run/netns").Select(Path.GetFileName).Where(n => n!.StartsWith($"p2pd-{id}-", StringComparison.Ordinal)).ToList()!;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "P2PDistill.sln"))) return d.FullName;
        throw new InvalidOperationException($"P2PDistill.sln not found above {AppContext.BaseDirectory}");
    }

    /// <summary>
    /// Runs a command bounded in time. On timeout it sends SIGTERM first (so the script's trap removes its
    /// namespaces), then kills the process tree, and fails with the output.
    /// </summary>
    private static ProcessResult Run(string file, IEnumerable<string> args, TimeSpan timeout, Dictionary<string, string>? env = null) =>
        RunningProcess.Run(Command.Of(file, args), new ProcessOptions { Environment = env }, timeout, stopGrace: TimeSpan.FromSeconds(30));
}
