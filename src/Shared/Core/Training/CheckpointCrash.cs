using System.Diagnostics;
using System.Globalization;

namespace P2PDistill.Shared.Training;

/// <summary>
/// TEST HOOK, not a setting: when the environment variable <see cref="Variable"/> names a point of a checkpoint write
/// (<c>after-state-files</c>, <c>after-manifest</c>, <c>after-aside</c>, <c>after-move-in</c>, <c>after-prune-aside</c>),
/// optionally with the step (<c>after-aside@6</c>), the process kills itself with SIGKILL there. The crash tests
/// (CheckpointCrashSpecs) set it on a child process to leave the disk exactly as a crash at that point would; nothing
/// else sets it. Unset, <see cref="At"/> costs one environment read.
/// </summary>
public static class CheckpointCrash
{
    public const string Variable = "P2PD_TEST_CRASH_AT";

    /// <summary>Kills this process when <see cref="Variable"/> names <paramref name="point"/> (and, if it gives one, <paramref name="step"/>).</summary>
    public static void At(string point, long step)
    {
        var wanted = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(wanted)) return;
        var at = wanted.IndexOf('@', StringComparison.Ordinal);
        var name = at < 0 ? wanted : wanted[..at];
        if (name != point || (at >= 0 && wanted[(at + 1)..] != step.ToString(CultureInfo.InvariantCulture))) return;
        Console.Error.WriteLine($"{Variable}={wanted}: killing this process here (checkpoint crash test hook)");
        Console.Error.Flush();
        using var self = Process.GetCurrentProcess();
        self.Kill(); // SIGKILL on Linux and macOS: no finally block, no flush, as a crash
        Environment.FailFast($"{Variable}={wanted}");
    }
}
