namespace P2PDistill.Shared.Hosting;

/// <summary>Where a node listens and which cluster it joins. Bound from configuration section "Node".</summary>
public sealed class NodeOptions
{
    /// <summary>Actor-system name; every node of one cluster must use the same.</summary>
    public string SystemName { get; set; } = "p2pdistill";

    /// <summary>Address remoting binds to. Loopback unless configured (DESIGN.md §7).</summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>Address other nodes use to reach this one (default: <see cref="Hostname"/>). Set it when binding 0.0.0.0.</summary>
    public string? PublicHostname { get; set; }

    /// <summary>TCP port; 0 picks a free one (fine for peer nodes, not for the seed).</summary>
    public int Port { get; set; }

    /// <summary>Seed nodes, e.g. akka.tcp://p2pdistill@10.0.0.1:4053, or akka.ssl.tcp://... with TLS (comma separated on the command line). Empty on the coordinator: it seeds itself.</summary>
    public string[] SeedNodes { get; set; } = [];

    /// <summary>Largest remoting frame, in MiB; the same on every node. The coordinator checks that a batch fits.</summary>
    public int MaxFrameMiB { get; set; } = 32;

    /// <summary>
    /// Seconds a member may stay unreachable before it is downed: by the coordinator, or by itself when it has lost the
    /// coordinator (<see cref="CoordinatorDowningProvider"/>: the coordinator's side survives, docs/architecture.md). The coordinator leaves an unreachable model out of
    /// the cohort at once, whatever this says; the wait only decides how long a frozen node (a GC pause, a stalled VM,
    /// SIGSTOP) may be away and still come back as the same member, with its network.
    /// </summary>
    public int DownAfterSeconds { get; set; } = 60;

    /// <summary>
    /// Seconds of silence the failure detectors accept before a node counts as unreachable: a compute stall or a long
    /// GC shorter than this is not noticed at all. A killed node is noticed after about this long, and leaves the
    /// cluster <see cref="DownAfterSeconds"/> later.
    /// </summary>
    public int HeartbeatPauseSeconds { get; set; } = 30;

    /// <summary>Seconds between the one-line cluster summaries in the log (0: never).</summary>
    public int ClusterSummarySeconds { get; set; } = 30;

    /// <summary>TLS with mutual authentication for remoting (section "Node:Tls"); off unless a certificate is set.</summary>
    public TlsOptions Tls { get; set; } = new();

    /// <summary>The address scheme of this node's remoting: akka.tcp, or akka.ssl.tcp with TLS (Akka.Remote's DotNetty transport names it so).</summary>
    public string Scheme => Tls.Enabled ? "akka.ssl.tcp" : "akka.tcp";

    public long MaxFrameBytes => (long)MaxFrameMiB * 1024 * 1024;

    /// <summary>
    /// Fails with a clear message when this node's port is taken, before anything is started or written
    /// (Akka.Remote would otherwise abort the process with a long stack trace). Port 0 is always free.
    /// </summary>
    public void EnsurePortFree()
    {
        if (Port == 0) return;
        var address = System.Net.IPAddress.TryParse(Hostname, out var ip) ? ip : System.Net.IPAddress.Any;
        try
        {
            using var listener = new System.Net.Sockets.TcpListener(address, Port);
            listener.Server.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, false);
            listener.Start();
            listener.Stop();
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new InvalidDataException(
                $"port {Port} on {Hostname} is not available ({e.SocketErrorCode}): another process is probably using it; " +
                "stop it or choose another port with --port (the peers' --seed-nodes must name the same port)");
        }
    }

    /// <summary>
    /// <see cref="EnsurePortFree"/>, retried for up to <paramref name="patience"/>: a node that starts a fresh cluster member
    /// takes the port its previous member has just released.
    /// </summary>
    /// <exception cref="InvalidDataException">The port is still taken when the patience runs out.</exception>
    public async Task WaitForPortFreeAsync(TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            try
            {
                EnsurePortFree();
                return;
            }
            catch (InvalidDataException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250));
            }
        }
    }

    public IReadOnlyList<string> Validate(bool isSeed)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Hostname)) errors.Add("hostname must not be empty");
        if (Port is < 0 or > 65535) errors.Add($"port must be 0..65535 (got {Port})");
        if (MaxFrameMiB is < 1 or > 1024) errors.Add($"max-frame-mb must be 1..1024 (got {MaxFrameMiB})");
        if (DownAfterSeconds is < 5 or > 86400) errors.Add($"down-after must be 5..86400 seconds (got {DownAfterSeconds})");
        if (HeartbeatPauseSeconds is < 3 or > 3600) errors.Add($"heartbeat-pause must be 3..3600 seconds (got {HeartbeatPauseSeconds})");
        if (!isSeed && SeedNodes.Length == 0) errors.Add($"seed-nodes is required: the coordinator's address, e.g. --seed-nodes {Scheme}://p2pdistill@127.0.0.1:4053");
        foreach (var seed in SeedNodes)
        {
            if (Tls.Enabled && seed.StartsWith("akka.tcp://", StringComparison.Ordinal))
                errors.Add($"seed node '{seed}': with TLS on (--tls-cert) addresses use the scheme akka.ssl.tcp, e.g. {Scheme}{seed["akka.tcp".Length..]}");
            else if (!Tls.Enabled && seed.StartsWith("akka.ssl.tcp://", StringComparison.Ordinal))
                errors.Add($"seed node '{seed}' uses akka.ssl.tcp but TLS is off: give this node --tls-cert, --tls-ca and its password like the other nodes, or use akka.tcp:// if the cluster runs without TLS");
            else if (!seed.StartsWith(Scheme + "://", StringComparison.Ordinal) || !seed.Contains('@'))
                errors.Add($"seed node '{seed}' is not an address like {Scheme}://{SystemName}@host:port");
        }
        errors.AddRange(Tls.Validate(string.IsNullOrWhiteSpace(PublicHostname) ? Hostname : PublicHostname));
        return errors;
    }
}
