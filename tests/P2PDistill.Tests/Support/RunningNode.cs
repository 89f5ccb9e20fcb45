using System.Diagnostics;
using System.Text;

namespace P2PDistill.Tests.Support;

/// <summary>A node executable started as a real process; its output is kept and can be waited on. Killed on dispose.</summary>
public sealed class RunningNode : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly StringBuilder stdout = new();
    private readonly StringBuilder stderr = new();
    private readonly object gate = new();

    private RunningNode(string name, Process process)
    {
        Name = name;
        this.process = process;
    }

    public string Name { get; }

    public static RunningNode Start(string name, string assembly, IEnumerable<string> args, string workingDirectory) =>
        StartExecutable("dotnet", name, [Path.Combine(AppContext.BaseDirectory, assembly), .. args], workingDirectory);

    /// <summary>Starts any executable with its output captured (e.g. a node under <c>setpriv</c>).</summary>
    public static RunningNode StartExecutable(string executable, string name, IEnumerable<string> args, string workingDirectory)
    {
        var psi = new ProcessStartInfo(executable)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var node = new RunningNode(name, Process.Start(psi)!);
        node.process.OutputDataReceived += (_, e) => node.Append(e.Data, node.stdout);
        node.process.ErrorDataReceived += (_, e) => node.Append(e.Data, node.stderr);
        node.process.BeginOutputReadLine();
        node.process.BeginErrorReadLine();
        return node;
    }

    public string Output
    {
        get { lock (gate) return output.ToString(); }
    }

    public string Stdout
    {
        get { lock (gate) return stdout.ToString(); }
    }

    public string Stderr
    {
        get { lock (gate) return stderr.ToString(); }
    }

    public bool HasExited => process.HasExited;

    public int ExitCode => process.ExitCode;

    /// <summary>Operating-system process id (e.g. to read /proc/PID/status).</summary>
    public int ProcessId => process.Id;

    /// <summary>Resident memory (VmRSS) in KiB, or null once the process has gone.</summary>
    public long? ResidentKiB() => P2PDistill.Shared.Actors.NodeMemory.ResidentKiB(process.Id.ToString());

    /// <summary>Waits until the output contains <paramref name="text"/>; fails with the output when it does not in time.</summary>
    public void WaitFor(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"{Name} did not print '{text}' within {timeout}:\n{Output}");
            if (process.HasExited && !Output.Contains(text, StringComparison.Ordinal))
            {
                Thread.Sleep(200);
                if (!Output.Contains(text, StringComparison.Ordinal))
                    throw new InvalidOperationException($"{Name} exited ({process.ExitCode}) without printing '{text}':\n{Output}");
            }
            Thread.Sleep(50);
        }
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            Kill();
            throw new TimeoutException($"{Name} did not exit within {timeout}:\n{Output}");
        }
        process.WaitForExit(); // drains the redirected streams
        return process.ExitCode;
    }

    /// <summary>SIGTERM: what systemd, Kubernetes and `docker stop` send; the node should stop gracefully.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]);
        kill.WaitForExit(10_000);
    }

    /// <summary>SIGSTOP: the process freezes (like a long GC pause or a suspended VM) until <see cref="Continue"/>.</summary>
    public void Pause() => Signal("-STOP");

    /// <summary>SIGCONT: a process frozen by <see cref="Pause"/> runs on.</summary>
    public void Continue() => Signal("-CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [signal, process.Id.ToString()]);
        kill.WaitForExit(10_000);
    }

    /// <summary>SIGKILL: no shutdown, no goodbye to the cluster.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
    }

    private void Append(string? line, StringBuilder stream)
    {
        if (line is null) return;
        lock (gate)
        {
            output.AppendLine(line);
            stream.AppendLine(line);
        }
    }

    public void Dispose()
    {
        try { Kill(); } catch (InvalidOperationException) { }
        process.Dispose();
    }
}
