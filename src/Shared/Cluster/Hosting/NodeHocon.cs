using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Serialization;

namespace P2PDistill.Shared.Hosting;

/// <summary>
/// The one place the project's HOCON is put together. Everything else is set through Akka.Hosting's typed options
/// (<see cref="AkkaNode"/>); these are the settings Akka.Hosting has no option for.
/// </summary>
public static class NodeHocon
{
    /// <summary>Every actor system of the project: the wire format (DESIGN.md §7), the model actors' pinned dispatcher, quieter dead letters.</summary>
    public static string WireFormat { get; } = string.Join("\n",
        AkkaSerialization.Hocon,
        ModelActor.DispatcherHocon,
        "akka.log-dead-letters-during-shutdown = off",
        "akka.log-dead-letters = 3");

    /// <summary>
    /// Downing: the coordinator decides (<see cref="CoordinatorDowningProvider"/>), after a member has been unreachable for
    /// <paramref name="seconds"/> (<c>--down-after</c>).
    /// </summary>
    public static string DownAfter(int seconds) => CoordinatorDowningProvider.Hocon(seconds);

    /// <summary>The host, not the CLR exit hook, shuts the actor system down (the coordinator's graceful stop needs it).</summary>
    public const string HostOwnsShutdown = "akka.coordinated-shutdown.run-by-clr-shutdown-hook = off";

    /// <summary>
    /// An actor system in one process without remoting (tests, benchmarks): the wire format, a log level, and optionally every
    /// message serialized as if it crossed the network.
    /// </summary>
    public static string InProcess(string logLevel = "WARNING", bool serializeMessages = false, string? more = null) => string.Join("\n",
        new[] { WireFormat, $"akka.loglevel = {logLevel}", serializeMessages ? "akka.actor.serialize-messages = on" : null, more }.OfType<string>());
}
