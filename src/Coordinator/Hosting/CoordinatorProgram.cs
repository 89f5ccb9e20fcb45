using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PDistill.Coordinator.Cli;
using P2PDistill.Coordinator.Commands;
using P2PDistill.Coordinator.SingleProcess;
using P2PDistill.Shared.Hosting;

namespace P2PDistill.Coordinator.Hosting;

/// <summary>
/// The coordinator process: the evaluate, predict, export and experiment commands, or a run — single-process, embedded (one actor
/// system) or the cluster coordinator (<see cref="CoordinatorRun"/>, <see cref="ClusterRunService"/>).
/// </summary>
public static class CoordinatorProgram
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0 && args[0] == "evaluate") return await EvaluateCommand.RunAsync(args[1..]);
        if (args.Length > 0 && args[0] == "predict") return await PredictCommand.RunAsync(args[1..]);
        if (args.Length > 0 && args[0] == "export") return await ExportCommand.RunAsync(args[1..]);
        if (args.Length > 0 && args[0] == "experiment") return await ExperimentCommand.RunAsync(args[1..]);

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
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ClusterRunService.StopGrace + TimeSpan.FromSeconds(15));
            builder.Services.AddAkka(node.SystemName, (akka, services) =>
            {
                var coordinatorRun = services.GetRequiredService<CoordinatorRun>();
                // The host, not the CLR exit hook, shuts the actor system down, so that on Ctrl+C / SIGTERM the run
                // service first gets the coordinator to finish its step and write a final checkpoint.
                akka.AddHocon(NodeHocon.HostOwnsShutdown, HoconAddMode.Prepend);
                if (run.Embedded) akka.AddEmbeddedCohort(coordinatorRun);
                else akka.ConfigureClusterNode(node, P2PDistill.Shared.Actors.ModelActor.CoordinatorRole).AddClusterCoordinator(coordinatorRun);
            });
        }

        if (!run.SingleProcess)
        {
            // Registered after Akka so that it stops first: a graceful stop still has the actor system for its final checkpoint.
            builder.Services.AddHostedService<ClusterRunService>();
        }

        return await HostRunner.RunAsync(builder.Build());
    }
}
