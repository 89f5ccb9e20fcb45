namespace P2PDistill.Tests.Support;

/// <summary>
/// Runs the coordinator executable so that file modes apply to it even when the tests run as root (as the CI does):
/// as root it starts under <c>setpriv</c> without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, the two capabilities that
/// let root read any file. A permission test then checks the real behaviour instead of being skipped. (Dropping them
/// on one thread of the test process is not enough: the image loader reads files on pool threads.)
/// </summary>
public static class WithoutRootOverride
{
    public static bool IsRoot => Environment.UserName == "root";

    public static ProcessResult RunCoordinator(NodeArgs coordinator, string workingDirectory, TimeSpan timeout)
    {
        var command = IsRoot
            ? coordinator.Command.Under("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search", "--")
            : coordinator.Command;
        return RunningProcess.Run(command, new ProcessOptions(workingDirectory), timeout, "coordinator");
    }
}
