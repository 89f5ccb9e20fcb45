using System.Runtime.InteropServices;

namespace P2PDistill.Tests.Support;

/// <summary>
/// Runs code on a thread that file modes apply to, even when the tests run as root (as the CI does): Linux capabilities
/// are per thread, so that thread drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, the two that let root read any file.
/// A permission test then checks the real behaviour instead of being skipped.
/// </summary>
public static class WithoutRootOverride
{
    private const uint Version3 = 0x20080522; // _LINUX_CAPABILITY_VERSION_3
    private const int DacOverride = 1, DacReadSearch = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct Header
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Data
    {
        public uint Effective, Permitted, Inheritable;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int capget(ref Header header, [Out] Data[] data);

    [DllImport("libc", SetLastError = true)]
    private static extern int capset(ref Header header, Data[] data);

    public static T Run<T>(Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                var header = new Header { Version = Version3, Pid = 0 };
                var data = new Data[2];
                if (capget(ref header, data) != 0) throw new InvalidOperationException($"capget failed ({Marshal.GetLastPInvokeError()})");
                data[0].Effective &= ~((1u << DacOverride) | (1u << DacReadSearch));
                if (capset(ref header, data) != 0) throw new InvalidOperationException($"capset failed ({Marshal.GetLastPInvokeError()})");
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        return result;
    }
}
