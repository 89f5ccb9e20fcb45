using System.Diagnostics;
using System.Globalization;

namespace P2PDistill.Benchmarks.Support;

/// <summary>
/// A process's own CPU time, user + system, from <c>/proc/PID/stat</c> (utime and stime, in clock ticks; the threads that
/// have exited are included). Linux only.
/// </summary>
public static class ProcessCpu
{
    private static readonly Lazy<double> TicksPerSecond = new(ReadTicksPerSecond);

    /// <summary>Clock ticks per second of /proc's times (USER_HZ: <c>getconf CLK_TCK</c>, 100 almost everywhere).</summary>
    public static double Hz => TicksPerSecond.Value;

    /// <summary>CPU seconds used so far by process <paramref name="pid"/>, or null once it has gone.</summary>
    public static double? Seconds(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        return Parse(text) / Hz;
    }

    /// <summary>utime + stime in ticks from the text of /proc/PID/stat (the command name, in parentheses, may hold spaces).</summary>
    public static long Parse(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After the name: field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private static double ReadTicksPerSecond()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true, UseShellExecute = false });
            if (getconf is not null && double.TryParse(getconf.StandardOutput.ReadToEnd().Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var hz) && hz > 0)
                return hz;
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
        return 100;
    }
}
