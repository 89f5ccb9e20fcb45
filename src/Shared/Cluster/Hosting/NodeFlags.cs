namespace P2PDistill.Shared.Hosting;

/// <summary>The node and TLS flags, declared once for both programs; only a few defaults differ between the seed (coordinator) and a peer.</summary>
public static class NodeFlags
{
    public static IReadOnlyList<CliFlag> For(bool seed) =>
    [
        new("hostname", ["Node:Hostname"], "address remoting binds to (default 127.0.0.1)"),
        new("public-hostname", ["Node:PublicHostname"], seed ? "address other nodes use to reach this one (default: --hostname)" : "address other nodes use to reach this one"),
        new("port", ["Node:Port"], seed ? "remoting port (default 4053)" : "remoting port (default 0: any free port)"),
        new("seed-nodes", ["Node:SeedNodes"], seed
            ? "comma-separated seed addresses (default: the coordinator seeds itself)"
            : "comma-separated seed addresses, e.g. akka.tcp://p2pdistill@10.0.0.1:4053 (akka.ssl.tcp://... with TLS)"),
        new("max-frame-mb", ["Node:MaxFrameMiB"], "largest remoting message in MiB, the same on every node (default 32)"),
        new("system-name", ["Node:SystemName"], "actor-system name shared by the cluster (default p2pdistill)"),
        new("down-after", ["Node:DownAfterSeconds"], "seconds an unreachable member may stay away before the cluster downs it, the same on every node (default 60)"),
        new("heartbeat-pause", ["Node:HeartbeatPauseSeconds"], "seconds without a heartbeat before a node counts as unreachable: longer stalls eject it, the same on every node (default 30)"),
        new("tls-cert", ["Node:Tls:Certificate"], "TLS for remoting: this node's certificate with its private key, a PKCS#12 (.pfx) file (docs/security.md)"),
        new("tls-password-file", ["Node:Tls:PasswordFile"], "TLS: file holding the .pfx password (or set P2PDISTILL_Node__Tls__Password)"),
        new("tls-ca", ["Node:Tls:CaCertificate"], "TLS: the CA certificate (PEM/DER) that signs every node's certificate; only it is trusted"),
        new("tls-validate-hostname", ["Node:Tls:ValidateHostname"], "TLS: also require a dialled node's certificate to name its host", IsSwitch: true),
    ];
}
