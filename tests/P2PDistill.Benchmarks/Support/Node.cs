using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace P2PDistill.Benchmarks.Support;

/// <summary>
/// One of the project's executables (copied beside the benchmarks) run as a process with <c>dotnet</c>; its output goes
/// to a log file and is kept for <see cref="WaitFor"/>. Killed on dispose if still running.
/// </summary>
public sealed class Node : IDisposable
{
    public const string CoordinatorDll = "p2pdistill-coordinator.dll";
    public const string PeerDll = "p2pdistill-peer.dll";

    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly StreamWriter log;
    private readonly object gate = new();

    private Node(string name, Process process, StreamWriter log)
    {
        Name = name;
        this.process = process;
        this.log = log;
    }

    public string Name { get; }
    public int Pid => process.Id;
    public bool HasExited => process.HasExited;

    public static Node Start(string name, string assembly, IEnumerable<string> args, string logDirectory)
    {
        var path = Path.Combine(AppContext.BaseDirectory, assembly);
        if (!File.Exists(path)) throw new FileNotFoundException($"{assembly} is not beside the benchmarks; build with dotnet build -c Release", path);
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = logDirectory,
        };
        psi.ArgumentList.Add(path);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // No progress bar, no colours: plain lines in the logs.
        psi.Environment["NO_COLOR"] = "1";
        Directory.CreateDirectory(logDirectory);
        var log = new StreamWriter(Path.Combine(logDirectory, name + ".log")) { AutoFlush = true };
        log.WriteLine($"# dotnet {path} {string.Join(" ", args)}");
        var node = new Node(name, Process.Start(psi)!, log);
        node.process.OutputDataReceived += (_, e) => node.Append(e.Data);
        node.process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        node.process.BeginOutputReadLine();
        node.process.BeginErrorReadLine();
        return node;
    }

    public string Output
    {
        get { lock (gate) return output.ToString(); }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (gate)
        {
            output.AppendLine(line);
            log.WriteLine(line);
        }
    }

    public void WaitFor(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (process.HasExited)
            {
                Thread.Sleep(300);
                if (Output.Contains(text, StringComparison.Ordinal)) return;
                throw new InvalidOperationException($"{Name} exited ({process.ExitCode}) before printing '{text}'. Its output:\n{Tail()}");
            }
            if (clock.Elapsed > timeout) throw new TimeoutException($"{Name} did not print '{text}' within {timeout}. Its output:\n{Tail()}");
            Thread.Sleep(100);
        }
    }

    /// <summary>Waits for the exit; kills the process and throws when it takes longer than <paramref name="timeout"/>.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            Kill();
            throw new TimeoutException($"{Name} did not finish within {timeout}. Its output:\n{Tail()}");
        }
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>Asks politely (SIGTERM), then kills after <paramref name="grace"/>.</summary>
    public void Stop(TimeSpan grace)
    {
        if (process.HasExited) return;
        try
        {
            using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit(5000);
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
        if (!process.WaitForExit(grace)) Kill();
    }

    public void Kill()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
    }

    public string Tail(int lines = 40)
    {
        var all = Output.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>Resident memory in MiB from /proc/PID/status (VmRSS); null when the process is gone.</summary>
    public double? RssMiB() => ReadRssMiB(process.Id);

    public static double? ReadRssMiB(int pid) => P2PDistill.Shared.Actors.NodeMemory.ResidentKiB(pid.ToString()) / 1024.0;

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Kill();
        process.Dispose();
        lock (gate) log.Dispose();
    }
}
