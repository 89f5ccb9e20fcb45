using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;

namespace P2PDistill.Benchmarks.Support;

/// <summary>
/// One cluster member with K student model actors (the benchmark's own host, not the peer node: a peer node hosts one
/// network). It joins the cluster like a peer node (same wire format, dispatcher and cluster set-up), each actor registers
/// with the coordinator on its own and gets its own slot, and the process exits once every actor has been told the run
/// is over (0 when all completed). What it leaves out of the peer node: rejoining as a fresh member after losing the
/// coordinator (a benchmark run that loses it has failed anyway).
/// </summary>
public static class ModelHost
{
    public static int Run(int models, string modelName, ModelSpec spec, string seedNode, TimeSpan joinTimeout, TextWriter output)
    {
        if (models < 1) throw new ArgumentException($"--host-students must be at least 1 (got {models})");
        // One intra-op thread per model actor, set on the actor's own thread too (ModelActorSettings.Threads).
        TorchSharp.torch.set_num_threads(1);
        var node = new NodeOptions { Hostname = "127.0.0.1", Port = 0, SeedNodes = [seedNode], ClusterSummarySeconds = 0 };
        var errors = node.Validate(isSeed: false);
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.AddP2PDistillConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Akka", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        int finished = 0, failed = 0;
        builder.Services.AddAkka(node.SystemName, (akka, services) =>
        {
            var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
            var logging = services.GetRequiredService<ILoggerFactory>();
            void Ended(bool ok)
            {
                if (!ok) Interlocked.Increment(ref failed);
                if (Interlocked.Increment(ref finished) == models) lifetime.StopApplication();
            }
            akka.ConfigureClusterNode(node, "student").WithActors((system, _) =>
            {
                for (int i = 1; i <= models; i++)
                {
                    var settings = new ModelActorSettings(ModelRole.Student, modelName, spec,
                        OnRefused: _ => Ended(false),
                        OnFinished: f => Ended(f.Completed),
                        Logging: logging,
                        Threads: 1,
                        JoinTimeout: joinTimeout,
                        OnGaveUp: _ => Ended(false));
                    system.ActorOf(ModelActor.Props(settings), $"model-{i}");
                }
            });
        });
        using var host = builder.Build();
        output.WriteLine($"model host: {models} x {modelName} ({spec}) joining {seedNode}");
        host.Run();
        output.WriteLine($"model host: {finished} of {models} model actors ended, {failed} not completed");
        return failed == 0 && finished == models ? 0 : 1;
    }
}
