using Akka;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Serialization;

namespace P2PDistill.Shared.Hosting;

/// <summary>The Akka.Hosting set-up every node shares: wire format, pinned dispatcher, remoting, clustering, cluster-state log.</summary>
public static class AkkaNode
{
    /// <summary>
    /// Exit code of a node that Akka.Remote stopped because a TLS handshake it started failed (the other end's
    /// certificate is not trusted, or this one's was refused): like a peer that gives up joining.
    /// </summary>
    public const int TlsFailedExitCode = (int)ExitCode.Unreachable;

    /// <summary>Remoting frame and socket buffers for a given largest message.</summary>
    public static (long Frame, long Buffer) FrameFor(long maxFrameBytes) => (maxFrameBytes, Math.Max(maxFrameBytes + 64 * 1024, 256_000));

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>Configures a clustered node with the given roles. A node without seed nodes joins itself (the coordinator).</summary>
    public static AkkaConfigurationBuilder ConfigureClusterNode(this AkkaConfigurationBuilder builder, NodeOptions node, params string[] roles)
    {
        var (frame, buffer) = FrameFor(node.MaxFrameBytes);
        var pause = TimeSpan.FromSeconds(node.HeartbeatPauseSeconds);
        var remoting = new RemoteOptions
        {
            HostName = node.Hostname,
            PublicHostName = string.IsNullOrWhiteSpace(node.PublicHostname) ? null : node.PublicHostname,
            Port = node.Port,
            MaxFrameSize = frame,
            SendBufferSize = buffer,
            ReceiveBufferSize = buffer,
            // Remote death watch of nodes outside the cluster, and the idle-connection check: never stricter than the cluster's detector.
            WatchFailureDetector = new PhiAccrualFailureDetectorOptions { AcceptableHeartbeatPause = pause },
            TransportFailureDetector = new DeadlineFailureDetectorOptions { AcceptableHeartbeatPause = Max(pause * 2, TimeSpan.FromSeconds(120)) },
        };
        if (node.Tls.Enabled) UseTls(remoting, node.Tls);
        builder
            .ConfigureWireFormat()
            .ConfigureLoggers(l => l.AddLoggerFactory())
            .WithRemoting(remoting)
            .WithClustering(new ClusterOptions
            {
                Roles = roles, SeedNodes = node.SeedNodes, LogInfo = false,
                FailureDetector = new PhiAccrualFailureDetectorOptions { AcceptableHeartbeatPause = pause },
            })
            .WithActors((system, _, resolver) => system.ActorOf(
                ClusterStateLogger.Props(TimeSpan.FromSeconds(node.ClusterSummarySeconds), resolver.GetService<ILoggerFactory>()), "cluster-state"));
        builder.AddHocon(NodeHocon.DownAfter(node.DownAfterSeconds), HoconAddMode.Prepend);
        if (node.Tls.Enabled) builder.AddStartup((system, _) => ReportTlsFailure(system));
        if (node.SeedNodes.Length == 0)
            builder.AddStartup((system, _) => Cluster.Get(system).Join(Cluster.Get(system).SelfAddress));
        return builder;
    }

    /// <summary>
    /// Mutual TLS on the DotNetty transport (docs/security.md): this node presents its certificate whether it accepts or
    /// opens a connection, requires one from the other end, and accepts it only if it chains to the cluster CA.
    /// The certificates live as long as the process.
    /// </summary>
    private static void UseTls(RemoteOptions remoting, TlsOptions tls)
    {
        var material = tls.Load();
        remoting.EnableSsl = true;
        remoting.Ssl = new SslOptions
        {
            X509Certificate = material.Certificate,
            SuppressValidation = false,
            RequireMutualAuthentication = true,
            ValidateCertificateHostname = tls.ValidateHostname,
            CustomValidator = TlsValidation.Callback(material.Ca, tls.ValidateHostname),
        };
    }

    /// <summary>
    /// Akka.Remote (1.5.50 and later) runs CoordinatedShutdown when a TLS handshake this node started fails. Without this
    /// the process would end with exit code 0 and only Akka's handshake log; with it, it says why and exits non-zero.
    /// </summary>
    private static void ReportTlsFailure(ActorSystem system)
    {
        var shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "report-tls-failure", () =>
        {
            // The reason's type is internal to Akka.Remote, hence the name.
            if (shutdown.ShutdownReason?.GetType().Name == "TlsHandshakeFailureReason")
            {
                system.Log.Error(
                    "TLS: stopping: a TLS handshake with another node failed (see the warnings above for which certificate was refused). " +
                    "Every node must present a certificate signed by the cluster CA (--tls-cert) and trust that same CA (--tls-ca); " +
                    "Akka.Remote stops a node whose outgoing TLS handshake fails");
                Environment.ExitCode = TlsFailedExitCode;
            }
            return Task.FromResult(Done.Instance);
        });
    }

    /// <summary>Serializers (DESIGN.md §7), the pinned dispatcher for model actors, and quieter defaults.</summary>
    public static AkkaConfigurationBuilder ConfigureWireFormat(this AkkaConfigurationBuilder builder) => builder
        .AddHocon(NodeHocon.WireFormat, HoconAddMode.Prepend);
}
