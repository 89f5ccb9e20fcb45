using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PDistill.Coordinator.Cli;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Coordinator.Hosting;
using P2PDistill.Coordinator.SingleProcess;
using P2PDistill.Shared.Hosting;

if (args.Length > 0 && args[0] == "evaluate") return await EvaluateCommand.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "predict") return await PredictCommand.RunAsync(args[1..]);

var builder = NodeHost.CreateBuilder(args, CoordinatorCli.Create(), CoordinatorCli.Usage, "appsettings.coordinator.json", out var exitCode);
if (builder is null) return exitCode;

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
