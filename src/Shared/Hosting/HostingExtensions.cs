using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Hosting;

public static class HostingExtensions
{
    /// <summary>Binds Training, Data and Optimizer options and validates them at start-up.</summary>
    public static IServiceCollection AddP2PDistillOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TrainingOptions>().Bind(configuration.GetSection("Training")).ValidateOnStart();
        services.AddOptions<DataOptions>().Bind(configuration.GetSection("Data")).ValidateOnStart();
        services.AddOptions<OptimizerOptions>().Bind(configuration.GetSection("Optimizer")).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TrainingOptions>>(new Validator<TrainingOptions>(o => o.Validate()));
        services.AddSingleton<IValidateOptions<OptimizerOptions>>(new Validator<OptimizerOptions>(o => o.Validate() is { } e ? [e] : []));
        services.AddSingleton<IValidateOptions<DataOptions>>(new Validator<DataOptions>(o => o.Validate()));
        return services;
    }

    /// <summary>Binds <typeparamref name="T"/> to <paramref name="section"/> and validates it at start-up.</summary>
    public static IServiceCollection AddValidatedOptions<T>(this IServiceCollection services, IConfiguration section, Func<T, IReadOnlyList<string>> validate) where T : class
    {
        services.AddOptions<T>().Bind(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new Validator<T>(validate));
        return services;
    }

    /// <summary>One-line console logs with a timestamp.</summary>
    public static ILoggingBuilder AddP2PDistillConsole(this ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
        return logging;
    }

    private sealed class Validator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var errors = validate(options);
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

/// <summary>Runs a host, turning configuration errors into a clear message and exit code 2.</summary>
public static class HostRunner
{
    public static async Task<int> RunAsync(IHost host)
    {
        try
        {
            await host.RunAsync();
            return Environment.ExitCode;
        }
        catch (OptionsValidationException e)
        {
            foreach (var failure in e.Failures) Console.Error.WriteLine($"error: invalid configuration: {failure}");
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or Data.DatasetException or ArgumentException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}

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
            exitCode = 2;
            return null;
        }
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddJsonFile(settingsFile, optional: true)
            .AddEnvironmentVariables("P2PDISTILL_")
            .AddInMemoryCollection(CommandLine.SplitLists(parsed.Values, "Node:SeedNodes"));
        builder.Logging.AddP2PDistillConsole();
        return builder;
    }
}
