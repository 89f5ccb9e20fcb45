namespace P2PDistill.Testing;

/// <summary>
/// The node processes of one test or benchmark run on 127.0.0.1: their working folder, the coordinator's port and seed
/// address, and every process started, all killed on dispose (and a temporary folder removed).
/// </summary>
public sealed class ProcessCluster : IDisposable
{
    /// <summary>For diagnosing a test that passed or failed: every node's output also goes to DIR/FOLDER-NAME.log.</summary>
    public const string TestLogsVariable = "P2PDISTILL_TEST_LOGS";

    private readonly List<RunningProcess> nodes = [];
    private readonly HashSet<string> logFiles = new(StringComparer.Ordinal);
    private bool ownsDirectory;

    /// <summary>Nodes working in <paramref name="directory"/> (created if need be), which stays.</summary>
    public ProcessCluster(string directory, bool tls = false)
    {
        Dir = Directory.CreateDirectory(directory).FullName;
        Tls = tls;
    }

    /// <summary>Nodes working in a new temporary folder named after <paramref name="prefix"/>, removed on dispose; their output goes to $P2PDISTILL_TEST_LOGS too when it is set.</summary>
    public static ProcessCluster Temporary(string prefix, bool tls = false)
    {
        var directory = Directory.CreateTempSubdirectory(prefix).FullName;
        var logs = System.Environment.GetEnvironmentVariable(TestLogsVariable);
        return new ProcessCluster(directory, tls)
        {
            ownsDirectory = true, LogDirectory = string.IsNullOrEmpty(logs) ? null : logs, LogPrefix = Path.GetFileName(directory) + "-",
        };
    }

    public string Dir { get; }

    public bool Tls { get; }

    public int Port { get; } = Loopback.FreePort();

    /// <summary>The coordinator's address, for the peers' <c>--seed-nodes</c>.</summary>
    public string Seed => Loopback.Seed(Port, Tls);

    /// <summary>When set, each process's output also goes to LOGDIRECTORY/LOGPREFIX+NAME.log (NAME-2.log, ... for a name used again).</summary>
    public string? LogDirectory { get; init; }

    public string LogPrefix { get; init; } = "";

    /// <summary>Variables set for every process.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Lines of output a failure message quotes (null: all).</summary>
    public int? MessageLines { get; init; }

    public IReadOnlyList<RunningProcess> Nodes => nodes;

    /// <summary>A coordinator listening on <see cref="Port"/>.</summary>
    public NodeArgs Coordinator() => NodeArgs.Coordinator().Port(Port);

    /// <summary>A peer of <paramref name="role"/> that joins through <see cref="Seed"/>.</summary>
    public NodeArgs Peer(string role) => NodeArgs.Peer(role, Seed);

    public RunningProcess Start(string name, NodeArgs node) => Start(name, node.Command);

    public RunningProcess Start(string name, Command command)
    {
        var node = RunningProcess.Start(name, command, new ProcessOptions(Dir)
        {
            Environment = Environment, LogFile = LogDirectory is null ? null : LogFile(name), MessageLines = MessageLines,
        });
        nodes.Add(node);
        return node;
    }

    private string LogFile(string name)
    {
        var file = Path.Combine(LogDirectory!, $"{LogPrefix}{name}.log");
        for (int n = 2; !logFiles.Add(file); n++) file = Path.Combine(LogDirectory!, $"{LogPrefix}{name}-{n}.log");
        return file;
    }

    public void Dispose()
    {
        foreach (var n in nodes) n.Dispose();
        if (ownsDirectory) Directory.Delete(Dir, recursive: true);
    }
}
