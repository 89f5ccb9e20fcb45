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
        .. NodeFlags.For(seed: false),
        new("role", ["Peer:Role"], "teacher or student (default student)"),
        new("model", ["Peer:Model"], "architecture (default cnn-teacher / cnn-student)"),
        new("classes", ["Peer:Classes"], "classes the network outputs; must match the dataset (default 10)"),
        new("input-shape", ["Peer:InputShape"], "CxHxW; must match the dataset (default 1x28x28)"),
        new("threads", ["Peer:Threads"], "TorchSharp threads (0: all cores)"),
        new("data-path", ["Peer:DataPath"], "local data mode: this node's copy of the dataset (default: the coordinator's path)"),
        new("join-timeout", ["Peer:JoinTimeoutSeconds"], "seconds to wait for the coordinator to accept this node, then exit 4 (default 120)"),
        new("rejoin-timeout", ["Peer:RejoinTimeoutSeconds"], "seconds to keep trying after losing the coordinator, then exit 4 (default 300)"),
        new("rejoin-grace", ["Peer:RejoinGraceSeconds"], "seconds the coordinator may stay unreachable before this node checks it is still a cluster member; only if it is not (removed, downed) does the node rejoin as a fresh member; a paused coordinator is waited for (default 10)"),
    ]);
}
