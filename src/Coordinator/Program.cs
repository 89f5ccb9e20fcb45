using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PDistill.Coordinator.Cli;
using P2PDistill.Coordinator.SingleProcess;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Training;

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
builder.Configuration.AddEnvironmentVariables("P2PDISTILL_").AddInMemoryCollection(cli.Values);
builder.Services.AddP2PDistillOptions(builder.Configuration);
builder.Services.Configure<RunOptions>(builder.Configuration.GetSection("Run"));
builder.Logging.AddP2PDistillConsole();

var run = builder.Configuration.GetSection("Run").Get<RunOptions>() ?? new RunOptions();
if (!run.SingleProcess)
{
    Console.Error.WriteLine("error: the cluster runtime is not built yet; run with --single-process (see README).");
    return 2;
}
builder.Services.AddHostedService<SingleProcessRunner>();

return await HostRunner.RunAsync(builder.Build());
