using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PDistill.Coordinator.Cli;
using P2PDistill.Coordinator.Hosting;
using P2PDistill.Coordinator.SingleProcess;
using P2PDistill.Shared.Hosting;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(CoordinatorCli.Create().Help(CoordinatorCli.Usage));
    return 0;
}

CommandLine.Parsed cli;
try
{
    cli = CoordinatorCli.Create().Parse(args);
}
catch (CommandLineException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddJsonFile("appsettings.coordinator.json", optional: true)
    .AddEnvironmentVariables("P2PDISTILL_").AddInMemoryCollection(CommandLine.SplitLists(cli.Values, "Node:SeedNodes"));
builder.Logging.AddP2PDistillConsole();
builder.Services.AddP2PDistillOptions(builder.Configuration);
builder.Services.AddValidatedOptions<ClusterRunOptions>(builder.Configuration.GetSection("Run"), o => o.Validate());
builder.Services.AddValidatedOptions<NodeOptions>(builder.Configuration.GetSection("Node"), o => o.Validate(isSeed: o.SeedNodes.Length == 0));

var run = builder.Configuration.GetSection("Run").Get<ClusterRunOptions>() ?? new ClusterRunOptions();
if (run.SingleProcess)
{
    builder.Services.AddHostedService<SingleProcessRunner>();
}
else
{
    var node = builder.Configuration.GetSection("Node").Get<NodeOptions>() ?? new NodeOptions();
    builder.Services.AddSingleton<CoordinatorRun>();
    builder.Services.AddHostedService<ClusterRunService>();
    builder.Services.AddAkka(node.SystemName, (akka, services) =>
    {
        var coordinatorRun = services.GetRequiredService<CoordinatorRun>();
        if (run.Embedded) akka.AddEmbeddedCohort(coordinatorRun);
        else akka.ConfigureClusterNode(node, P2PDistill.Shared.Actors.ModelActor.CoordinatorRole).AddCoordinator(coordinatorRun);
    });
}

return await HostRunner.RunAsync(builder.Build());
