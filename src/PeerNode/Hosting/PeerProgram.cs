using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Hosting;

namespace P2PDistill.PeerNode.Hosting;

/// <summary>
/// The peer process: one <see cref="PeerSession"/> per life of the actor system. A node that lost its coordinator for good
/// starts a fresh session that joins the seed nodes again, until a coordinator accepts it or --rejoin-timeout runs out.
/// </summary>
public static class PeerProgram
{
    public static async Task<int> RunAsync(string[] args)
    {
        var session = new PeerSession();
        while (true)
        {
            var builder = NodeHost.CreateBuilder(args, PeerCli.Create(), PeerCli.Usage, "appsettings.peer.json", out var exitCode);
            if (builder is null) return exitCode;

            builder.Services.AddValidatedOptions<PeerOptions>(builder.Configuration.GetSection("Peer"), o => o.Validate());
            builder.Services.AddValidatedOptions<NodeOptions>(builder.Configuration.GetSection("Node"), o => o.Validate(isSeed: false));
            var node = builder.Configuration.GetSection("Node").Get<NodeOptions>() ?? new NodeOptions();
            var peer = builder.Configuration.GetSection("Peer").Get<PeerOptions>() ?? new PeerOptions();
            Environment.ExitCode = (int)ExitCode.Completed;
            try
            {
                await node.WaitForPortFreeAsync(TimeSpan.FromSeconds(session.LostSinceUtc is null ? 0 : 10));
            }
            catch (InvalidDataException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return (int)ExitCode.BadInput;
            }

            var current = session;
            // Options are validated when the host starts, before the actor system is built.
            builder.Services.AddAkka(node.SystemName, (akka, services) => akka.AddPeer(node, peer,
                services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<ILoggerFactory>(), current));

            int code = await HostRunner.RunAsync(builder.Build());
            if (current.Rejoin is not { } rejoin) return code;
            double left = PeerSession.Remaining(peer.RejoinTimeoutSeconds, rejoin.SinceUtc, DateTime.UtcNow);
            if (left <= 0)
            {
                Console.Error.WriteLine($"error: the coordinator was lost ({rejoin.Why}) and did not come back within {peer.RejoinTimeoutSeconds:F0} s; " +
                                        "restart this node once the coordinator is back (or raise --rejoin-timeout)");
                return PeerHosting.GaveUpExitCode;
            }
            Console.WriteLine($"{DateTime.Now:HH:mm:ss} info: P2PDistill.Peer[0] Rejoining the cluster as a fresh member " +
                              $"({rejoin.Why}; {left:F0} s left of --rejoin-timeout)");
            session = new PeerSession(rejoin.Why, rejoin.SinceUtc);
        }
    }
}
