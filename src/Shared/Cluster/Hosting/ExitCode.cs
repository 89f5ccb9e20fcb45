namespace P2PDistill.Shared.Hosting;

/// <summary>
/// The exit codes of both programs and of the coordinator's commands, with their meanings; the README's table is this
/// one, and the tests assert these names, not numbers.
/// </summary>
public enum ExitCode
{
    /// <summary>The run completed, or stopped cleanly on request (Ctrl+C, SIGTERM) with its final checkpoint.</summary>
    Completed = 0,

    /// <summary>The run stopped early or failed: a loss that is not finite, a file the coordinator cannot write, a crash.</summary>
    Failed = 1,

    /// <summary>Bad input or settings (named in the message, nothing written), a port in use, or a second coordinator in a cluster that has one.</summary>
    BadInput = 2,

    /// <summary>A peer the coordinator refused: wrong classes or input shape, a second teacher, different local data.</summary>
    Refused = 3,

    /// <summary>A peer that found no coordinator in time or lost it for longer than --rejoin-timeout, or a node whose TLS handshake failed.</summary>
    Unreachable = 4,

    /// <summary>The <c>experiment</c> command was stopped (Ctrl+C, SIGTERM); its finished runs are kept and a rerun continues it.</summary>
    Interrupted = 130,
}
