namespace P2PDistill.Tests.Support;

/// <summary>
/// Node processes of one test on 127.0.0.1: a temporary working folder, the coordinator's port and seed address, and
/// every process started, all killed and removed on dispose.
/// </summary>
public sealed class ProcessCluster(string prefix) : IDisposable
{
    private readonly List<RunningNode> nodes = [];

    public string Dir { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public int Port { get; } = ClusterHosts.FreePort();

    public string Seed => $"akka.tcp://p2pdistill@127.0.0.1:{Port}";

    public IReadOnlyList<RunningNode> Nodes => nodes;

    /// <summary>Starts an executable (p2pdistill-coordinator.dll or p2pdistill-peer.dll) in <see cref="Dir"/>.</summary>
    public RunningNode Start(string name, string assembly, IEnumerable<string> args)
    {
        var node = RunningNode.Start(name, assembly, args, Dir);
        nodes.Add(node);
        return node;
    }

    public void Dispose()
    {
        foreach (var n in nodes) n.Dispose();
        // For diagnosing a test that passed or failed: P2PDISTILL_TEST_LOGS=DIR keeps every node's output as DIR/PREFIX-NAME.log.
        if (Environment.GetEnvironmentVariable("P2PDISTILL_TEST_LOGS") is { Length: > 0 } logs)
        {
            Directory.CreateDirectory(logs);
            foreach (var n in nodes) File.WriteAllText(Path.Combine(logs, $"{Path.GetFileName(Dir)}-{n.Name}.log"), n.Output);
        }
        Directory.Delete(Dir, recursive: true);
    }
}
