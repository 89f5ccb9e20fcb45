using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace P2PDistill.Shared.Hosting;

/// <summary>The start every executable shares: flags (with --help), settings file, environment, logging.</summary>
public static class NodeHost
{
    /// <summary>
    /// Parses the friendly flags and builds a host builder whose configuration is, in rising priority:
    /// <paramref name="settingsFile"/> beside the executable, environment variables prefixed P2PDISTILL_, the flags.
    /// Returns null with the exit code to use when the program should stop here (--help: 0; a bad flag: 2).
    /// </summary>
    public static HostApplicationBuilder? CreateBuilder(string[] args, CommandLine flags, string usage, string settingsFile, out int exitCode)
    {
        exitCode = 0;
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(flags.Help(usage));
            return null;
        }
        CommandLine.Parsed parsed;
        try
        {
            parsed = flags.Parse(args);
        }
        catch (CommandLineException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            exitCode = (int)ExitCode.BadInput;
            return null;
        }
        ConfigurationErrors.ExitCleanlyOnConversionErrors(flags);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddJsonFile(settingsFile, optional: true)
            .AddEnvironmentVariables("P2PDISTILL_")
            .AddInMemoryCollection(CommandLine.SplitLists(parsed.Values, "Node:SeedNodes", "Training:StudentModels"));
        builder.Logging.AddP2PDistillConsole();
        builder.Services.AddSingleton(flags); // names a bad setting by its flag (HostRunner)
        return builder;
    }
}
