namespace P2PDistill.Tests.Support;

/// <summary>Runs one of the project's executables (copied beside the tests) to its end, bounded in time.</summary>
public static class NodeProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string All => Stdout + Stderr;
    }

    public static Result Run(string assembly, IEnumerable<string> args, string workingDirectory, TimeSpan timeout)
    {
        using var node = RunningNode.Start(assembly, assembly, args, workingDirectory);
        var exit = node.WaitForExit(timeout);
        return new Result(exit, node.Stdout, node.Stderr);
    }
}
