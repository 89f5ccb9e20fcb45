using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PDistill.PeerNode.Hosting;
using P2PDistill.Shared.Hosting;

var builder = NodeHost.CreateBuilder(args, PeerCli.Create(), PeerCli.Usage, "appsettings.peer.json", out var exitCode);
if (builder is null) return exitCode;

builder.Services.AddValidatedOptions<PeerOptions>(builder.Configuration.GetSection("Peer"), o => o.Validate());
builder.Services.AddValidatedOptions<NodeOptions>(builder.Configuration.GetSection("Node"), o => o.Validate(isSeed: false));

var node = builder.Configuration.GetSection("Node").Get<NodeOptions>() ?? new NodeOptions();
var peer = builder.Configuration.GetSection("Peer").Get<PeerOptions>() ?? new PeerOptions();
Environment.ExitCode = 0;
try
{
    node.EnsurePortFree();
}
catch (InvalidDataException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
builder.Services.AddAkka(node.SystemName, (akka, services) =>
{
    // Options are validated when the host starts, before the actor system is built.
    akka.AddPeer(node, peer, services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>());
});

return await HostRunner.RunAsync(builder.Build());
