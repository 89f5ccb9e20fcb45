using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Serialization;

namespace P2PDistill.Shared.Hosting;

/// <summary>The Akka.Hosting set-up every node shares: wire format, pinned dispatcher, remoting, clustering, cluster-state log.</summary>
public static class AkkaNode
{
    /// <summary>Remoting frame and socket buffers for a given largest message.</summary>
    public static (long Frame, long Buffer) FrameFor(long maxFrameBytes) => (maxFrameBytes, Math.Max(maxFrameBytes + 64 * 1024, 256_000));

    /// <summary>Configures a clustered node with the given roles. A node without seed nodes joins itself (the coordinator).</summary>
    public static AkkaConfigurationBuilder ConfigureClusterNode(this AkkaConfigurationBuilder builder, NodeOptions node, params string[] roles)
    {
        var (frame, buffer) = FrameFor(node.MaxFrameBytes);
        var remoting = new RemoteOptions
        {
            HostName = node.Hostname,
            PublicHostName = string.IsNullOrWhiteSpace(node.PublicHostname) ? null : node.PublicHostname,
            Port = node.Port,
            MaxFrameSize = frame,
            SendBufferSize = buffer,
            ReceiveBufferSize = buffer,
        };
        if (node.Tls.Enabled) UseTls(remoting, node.Tls);
        builder
            .ConfigureWireFormat()
            .ConfigureLoggers(l => l.AddLoggerFactory())
            .WithRemoting(remoting)
            .WithClustering(new ClusterOptions { Roles = roles, SeedNodes = node.SeedNodes, LogInfo = false })
            .WithActors((system, _, resolver) => system.ActorOf(
                ClusterStateLogger.Props(TimeSpan.FromSeconds(node.ClusterSummarySeconds), resolver.GetService<ILoggerFactory>()), "cluster-state"));
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

    /// <summary>Serializers (DESIGN.md §7), the pinned dispatcher for model actors, and quieter defaults.</summary>
    public static AkkaConfigurationBuilder ConfigureWireFormat(this AkkaConfigurationBuilder builder) => builder
        .AddHocon(AkkaSerialization.Hocon + "\n" + ModelActor.DispatcherHocon + "\nakka.log-dead-letters-during-shutdown = off\nakka.log-dead-letters = 3",
            HoconAddMode.Prepend);
}
