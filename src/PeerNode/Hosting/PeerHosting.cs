using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Hosting;
using TorchSharp;

namespace P2PDistill.PeerNode.Hosting;

public static class PeerHosting
{
    /// <summary>Exit code of a peer node whose registration the coordinator refused.</summary>
    public const int RefusedExitCode = (int)ExitCode.Refused;

    /// <summary>Exit code of a peer node that found no coordinator in time, or lost it for too long.</summary>
    public const int GaveUpExitCode = (int)ExitCode.Unreachable;

    /// <summary>A clustered node with the peer's role, hosting one model actor that registers with the coordinator.</summary>
    public static AkkaConfigurationBuilder AddPeer(this AkkaConfigurationBuilder akka, NodeOptions node, PeerOptions peer, IHostApplicationLifetime lifetime,
        Microsoft.Extensions.Logging.ILoggerFactory? logging = null, PeerSession? session = null)
    {
        session ??= new PeerSession();
        lifetime.ApplicationStopping.Register(session.MarkStopping);
        bool rejoining = session.LostSinceUtc is not null;
        var joinTimeout = rejoining
            ? TimeSpan.FromSeconds(Math.Max(1, PeerSession.Remaining(peer.RejoinTimeoutSeconds, session.LostSinceUtc!.Value, DateTime.UtcNow)))
            : TimeSpan.FromSeconds(peer.JoinTimeoutSeconds);
        void Rejoin(string why, DateTime since)
        {
            if (session.RequestRejoin(why, since)) lifetime.StopApplication();
        }
        int threads = peer.Threads > 0 ? peer.Threads : Environment.ProcessorCount;
        torch.set_num_threads(threads);
        var role = peer.Role == Shared.Training.ModelRole.Teacher ? "teacher" : "student";
        // The host, not Akka's CLR exit hook, shuts the actor system down: on SIGTERM the hook started the node's leave
        // before the host had marked the session stopping, and the leave, seen as a lost coordinator, became a rejoin.
        akka.AddHocon(NodeHocon.HostOwnsShutdown, HoconAddMode.Prepend);
        return akka
            .ConfigureClusterNode(node, role)
            .WithActors((system, _) =>
            {
                var settings = new ModelActorSettings(peer.Role, peer.ModelName, peer.Spec,
                    OnRefused: _ =>
                    {
                        Environment.ExitCode = RefusedExitCode;
                        lifetime.StopApplication();
                    },
                    OnFinished: f =>
                    {
                        Environment.ExitCode = (int)(f.Completed ? ExitCode.Completed : ExitCode.Failed);
                        lifetime.StopApplication();
                    },
                    Logging: logging,
                    DataPath: peer.DataPath,
                    Threads: threads,
                    JoinTimeout: joinTimeout,
                    RejoinTimeout: TimeSpan.FromSeconds(peer.RejoinTimeoutSeconds),
                    OnGaveUp: _ =>
                    {
                        Environment.ExitCode = GaveUpExitCode;
                        lifetime.StopApplication();
                    },
                    OnRejoinNeeded: Rejoin, // never while this node leaves of its own accord (ModelActor.IgnoredWhileLeaving)
                    RejoinGrace: TimeSpan.FromSeconds(peer.RejoinGraceSeconds),
                    LostCoordinator: session.LostCoordinator);
                system.ActorOf(ModelActor.Props(settings), "model");
                // Downed by the cluster (by the coordinator, or by this node itself after losing the coordinator): this member is finished,
                // but the node is not; a fresh member joins again. Any other shutdown (end of run, Ctrl+C, a failed TLS
                // handshake) ends the node.
                Akka.Cluster.Cluster.Get(system).RegisterOnMemberRemoved(() =>
                {
                    if (CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClusterDowningReason)
                        Rejoin("this node was downed and removed from the cluster", session.LostSinceUtc ?? DateTime.UtcNow);
                });
            });
    }
}
