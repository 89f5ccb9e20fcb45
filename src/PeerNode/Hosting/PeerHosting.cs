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
    public const int RefusedExitCode = 3;

    /// <summary>Exit code of a peer node that found no coordinator in time, or lost it for too long.</summary>
    public const int GaveUpExitCode = 4;

    /// <summary>A clustered node with the peer's role, hosting one model actor that registers with the coordinator.</summary>
    public static AkkaConfigurationBuilder AddPeer(this AkkaConfigurationBuilder akka, NodeOptions node, PeerOptions peer, IHostApplicationLifetime lifetime,
        Microsoft.Extensions.Logging.ILoggerFactory? logging = null)
    {
        int threads = peer.Threads > 0 ? peer.Threads : Environment.ProcessorCount;
        torch.set_num_threads(threads);
        var role = peer.ParsedRole == Shared.Training.ModelRole.Teacher ? "teacher" : "student";
        return akka
            .ConfigureClusterNode(node, role)
            .WithActors((system, _) =>
            {
                var settings = new ModelActorSettings(peer.ParsedRole, peer.ModelName, peer.Spec,
                    OnRefused: _ =>
                    {
                        Environment.ExitCode = RefusedExitCode;
                        lifetime.StopApplication();
                    },
                    OnFinished: f =>
                    {
                        Environment.ExitCode = f.Completed ? 0 : 1;
                        lifetime.StopApplication();
                    },
                    Logging: logging,
                    DataPath: peer.DataPath,
                    Threads: threads,
                    JoinTimeout: TimeSpan.FromSeconds(peer.JoinTimeoutSeconds),
                    RejoinTimeout: TimeSpan.FromSeconds(peer.RejoinTimeoutSeconds),
                    OnGaveUp: _ =>
                    {
                        Environment.ExitCode = GaveUpExitCode;
                        lifetime.StopApplication();
                    });
                system.ActorOf(ModelActor.Props(settings), "model");
            });
    }
}
