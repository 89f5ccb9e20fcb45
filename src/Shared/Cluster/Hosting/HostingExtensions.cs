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
        // The host logs "Hosting failed to start" with a full stack trace for every start-up failure; a bad setting or
        // dataset is reported by HostRunner as one clear line instead, and anything else still surfaces (unhandled).
        logging.AddFilter<ConsoleLoggerProvider>("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
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
            // Validate every option first, before any hosted service (the actor system, the run) is built from them: the
            // host would validate only after resolving the hosted services, and Akka.Hosting reads the Node settings then.
            host.Services.GetService<IStartupValidator>()?.Validate();
            await host.RunAsync();
            return Environment.ExitCode;
        }
        catch (OptionsValidationException e)
        {
            foreach (var failure in e.Failures) Console.Error.WriteLine($"error: invalid configuration: {failure}");
            return (int)ExitCode.BadInput;
        }
        catch (Exception e) when (e is InvalidDataException or Data.DatasetException or ArgumentException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return (int)ExitCode.BadInput;
        }
        catch (InvalidOperationException e) when (ConfigurationErrors.Describe(e) is { } message)
        {
            Console.Error.WriteLine($"error: {message}");
            return (int)ExitCode.BadInput;
        }
    }
}

/// <summary>
/// A value that does not convert to its setting's type (<c>--epochs abc</c>) makes configuration binding throw; this
/// turns that into one line naming the flag, the value and the type expected.
/// </summary>
public static class ConfigurationErrors
{
    private static readonly System.Text.RegularExpressions.Regex Conversion =
        new(@"Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'", System.Text.RegularExpressions.RegexOptions.Singleline);

    /// <summary>The flags of the running executable (set by <see cref="NodeHost.CreateBuilder"/>), to name a key by its flag.</summary>
    public static CommandLine? Flags { get; set; }

    private static int handlerInstalled;

    /// <summary>A clear message for a configuration conversion error anywhere in <paramref name="e"/>'s chain, else null.</summary>
    public static string? Describe(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            var m = Conversion.Match(x.Message);
            if (!m.Success) continue;
            string key = m.Groups["key"].Value, value = m.Groups["value"].Value;
            var flag = Flags?.Flags.FirstOrDefault(f => f.Keys.Any(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase)));
            string name = flag is null ? key : $"--{flag.Name} ({key})";
            return $"invalid configuration: {name} is '{value}', which is not {Expected(m.Groups["type"].Value)}; give a valid value (see --help)";
        }
        return null;
    }

    private static string Expected(string type) => type switch
    {
        "System.Int32" or "System.Int64" => "a whole number",
        "System.Double" or "System.Single" => "a number (use a dot for decimals, e.g. 0.5)",
        "System.Boolean" => "true or false",
        _ => $"a valid {type}",
    };

    /// <summary>
    /// Settings bound at the top level of a Program (outside <see cref="HostRunner"/>) fail with the same error: report it
    /// the same way, exit code 2, instead of an unhandled-exception crash.
    /// </summary>
    internal static void ExitCleanlyOnConversionErrors()
    {
        if (Interlocked.Exchange(ref handlerInstalled, 1) == 1) return;
        AppDomain.CurrentDomain.UnhandledException += (_, args) =>
        {
            if (args.ExceptionObject is Exception e && Describe(e) is { } message)
            {
                Console.Error.WriteLine($"error: {message}");
                Console.Error.Flush();
                Environment.Exit(2);
            }
        };
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
            exitCode = (int)ExitCode.BadInput;
            return null;
        }
        ConfigurationErrors.Flags = flags;
        ConfigurationErrors.ExitCleanlyOnConversionErrors();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddJsonFile(settingsFile, optional: true)
            .AddEnvironmentVariables("P2PDISTILL_")
            .AddInMemoryCollection(CommandLine.SplitLists(parsed.Values, "Node:SeedNodes"));
        builder.Logging.AddP2PDistillConsole();
        return builder;
    }
}
