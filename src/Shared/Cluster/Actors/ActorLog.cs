using System.Globalization;
using Akka.Actor;
using Akka.Event;
using Microsoft.Extensions.Logging;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace P2PDistill.Shared.Actors;

/// <summary>
/// The project's actors log through Microsoft.Extensions.Logging under their own categories
/// (P2PDistill.Coordinator, P2PDistill.Model, P2PDistill.ClusterState) when a logger factory is given,
/// so their lines read like the rest of the host's; otherwise through Akka's own logging.
/// Formats are Akka-style ("{0}").
/// </summary>
public sealed class ActorLog(ILoggingAdapter akka, ILogger? logger)
{
    public static ActorLog For(IActorContext context, ILoggerFactory? factory, string category) =>
        new(context.GetLogger(), factory?.CreateLogger(category));

    public bool IsDebugEnabled => logger?.IsEnabled(LogLevel.Debug) ?? akka.IsDebugEnabled;

    public void Debug(string format, params object?[] args) => Write(LogLevel.Debug, format, args);
    public void Info(string format, params object?[] args) => Write(LogLevel.Information, format, args);
    public void Warning(string format, params object?[] args) => Write(LogLevel.Warning, format, args);
    public void Error(string format, params object?[] args) => Write(LogLevel.Error, format, args);

    private void Write(LogLevel level, string format, object?[] args)
    {
        if (logger is not null)
        {
            if (logger.IsEnabled(level)) logger.Log(level, "{Message}", string.Format(CultureInfo.InvariantCulture, format, args));
            return;
        }
        var akkaLevel = level switch
        {
            LogLevel.Debug => Akka.Event.LogLevel.DebugLevel,
            LogLevel.Information => Akka.Event.LogLevel.InfoLevel,
            LogLevel.Warning => Akka.Event.LogLevel.WarningLevel,
            _ => Akka.Event.LogLevel.ErrorLevel,
        };
        akka.Log(akkaLevel, string.Format(CultureInfo.InvariantCulture, format, args));
    }
}
