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
