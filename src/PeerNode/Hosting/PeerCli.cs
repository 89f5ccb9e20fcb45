using P2PDistill.Shared.Hosting;

namespace P2PDistill.PeerNode.Hosting;

public static class PeerCli
{
    public const string Usage = """
        Usage: p2pdistill-peer --role teacher|student --seed-nodes akka.tcp://p2pdistill@HOST:4053 [options]
               (with TLS: --tls-cert NODE.pfx --tls-password-file FILE --tls-ca CA.pem --seed-nodes akka.ssl.tcp://p2pdistill@HOST:4053)

          Hosts one network in a model actor, joins the coordinator's cluster and trains until the coordinator ends the run.
        """;

    public static CommandLine Create() => new(
    [
        new("role", ["Peer:Role"], "teacher or student (default student)"),
        new("model", ["Peer:Model"], "architecture (default cnn-teacher / cnn-student)"),
        new("classes", ["Peer:Classes"], "classes the network outputs; must match the dataset (default 10)"),
        new("input-shape", ["Peer:InputShape"], "CxHxW; must match the dataset (default 1x28x28)"),
        new("threads", ["Peer:Threads"], "TorchSharp threads (0: all cores)"),
        new("data-path", ["Peer:DataPath"], "local data mode: this node's copy of the dataset (default: the coordinator's path)"),
        new("join-timeout", ["Peer:JoinTimeoutSeconds"], "seconds to wait for the coordinator to accept this node, then exit 4 (default 120)"),
        new("rejoin-timeout", ["Peer:RejoinTimeoutSeconds"], "seconds to keep trying after losing the coordinator, then exit 4 (default 300)"),
        new("rejoin-grace", ["Peer:RejoinGraceSeconds"], "seconds the coordinator may stay unreachable before this node checks it is still a cluster member; only if it is not (removed, downed) does the node rejoin as a fresh member; a paused coordinator is waited for (default 10)"),
        new("seed-nodes", ["Node:SeedNodes"], "comma-separated seed addresses, e.g. akka.tcp://p2pdistill@10.0.0.1:4053 (akka.ssl.tcp://... with TLS)"),
        new("hostname", ["Node:Hostname"], "address remoting binds to (default 127.0.0.1)"),
        new("public-hostname", ["Node:PublicHostname"], "address other nodes use to reach this one"),
        new("port", ["Node:Port"], "remoting port (default 0: any free port)"),
        new("max-frame-mb", ["Node:MaxFrameMiB"], "largest remoting message in MiB, the same on every node (default 32)"),
        new("system-name", ["Node:SystemName"], "actor-system name shared by the cluster (default p2pdistill)"),
        new("down-after", ["Node:DownAfterSeconds"], "seconds an unreachable member may stay away before the cluster downs it, the same on every node (default 60)"),
        new("tls-cert", ["Node:Tls:Certificate"], "TLS for remoting: this node's certificate with its private key, a PKCS#12 (.pfx) file (docs/security.md)"),
        new("tls-password-file", ["Node:Tls:PasswordFile"], "TLS: file holding the .pfx password (or set P2PDISTILL_Node__Tls__Password)"),
        new("tls-ca", ["Node:Tls:CaCertificate"], "TLS: the CA certificate (PEM/DER) that signs every node's certificate; only it is trusted"),
        new("tls-validate-hostname", ["Node:Tls:ValidateHostname"], "TLS: also require a dialled node's certificate to name its host", IsSwitch: true),
    ]);
}
