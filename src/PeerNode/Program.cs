using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PDistill.PeerNode.Hosting;
using P2PDistill.Shared.Hosting;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(PeerCli.Create().Help(PeerCli.Usage));
    return 0;
}

CommandLine.Parsed cli;
try
{
    cli = PeerCli.Create().Parse(args);
}
catch (CommandLineException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddJsonFile("appsettings.peer.json", optional: true)
    .AddEnvironmentVariables("P2PDISTILL_")
    .AddInMemoryCollection(CommandLine.SplitLists(cli.Values, "Node:SeedNodes"));
builder.Logging.AddP2PDistillConsole();
builder.Services.AddValidatedOptions<PeerOptions>(builder.Configuration.GetSection("Peer"), o => o.Validate());
builder.Services.AddValidatedOptions<NodeOptions>(builder.Configuration.GetSection("Node"), o => o.Validate(isSeed: false));

var node = builder.Configuration.GetSection("Node").Get<NodeOptions>() ?? new NodeOptions();
var peer = builder.Configuration.GetSection("Peer").Get<PeerOptions>() ?? new PeerOptions();
Environment.ExitCode = 0;
builder.Services.AddAkka(node.SystemName, (akka, services) =>
{
    // Options are validated when the host starts, before the actor system is built.
    akka.AddPeer(node, peer, services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>());
});

return await HostRunner.RunAsync(builder.Build());
