using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PDistill.PeerNode.Hosting;
using P2PDistill.Shared.Hosting;

// One session per life of the actor system; a node that lost its coordinator for good starts a fresh session that
// joins the seed nodes again (PeerSession), until a coordinator accepts it or --rejoin-timeout runs out.
var session = new PeerSession();
while (true)
{
    var builder = NodeHost.CreateBuilder(args, PeerCli.Create(), PeerCli.Usage, "appsettings.peer.json", out var exitCode);
    if (builder is null) return exitCode;

    builder.Services.AddValidatedOptions<PeerOptions>(builder.Configuration.GetSection("Peer"), o => o.Validate());
    builder.Services.AddValidatedOptions<NodeOptions>(builder.Configuration.GetSection("Node"), o => o.Validate(isSeed: false));

    var node = builder.Configuration.GetSection("Node").Get<NodeOptions>() ?? new NodeOptions();
    var peer = builder.Configuration.GetSection("Peer").Get<PeerOptions>() ?? new PeerOptions();
    Environment.ExitCode = 0;
    try
    {
        // A fresh session reuses the port the previous one has just released.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(session.LostSinceUtc is null ? 0 : 10);
        while (true)
        {
            try
            {
                node.EnsurePortFree();
                break;
            }
            catch (InvalidDataException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(250);
            }
        }
    }
    catch (InvalidDataException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return (int)ExitCode.BadInput;
    }
    var current = session;
    builder.Services.AddAkka(node.SystemName, (akka, services) =>
    {
        // Options are validated when the host starts, before the actor system is built.
        akka.AddPeer(node, peer, services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>(),
            current);
    });

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
