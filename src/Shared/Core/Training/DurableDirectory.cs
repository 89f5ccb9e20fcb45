using System.Runtime.InteropServices;

namespace P2PDistill.Shared.Training;

/// <summary>
/// fsync of a folder, so that the files created, renamed or deleted in it survive a power cut (a rename is durable only
/// once its parent folder is flushed). .NET opens no handle on a folder, so on Linux this calls libc's open, fsync and
/// close; other systems skip it.
/// </summary>
public static class DurableDirectory
{
    private const int ReadOnly = 0;            // O_RDONLY
    private const int DirectoryOnly = 0x10000; // O_DIRECTORY (Linux, x86-64 and arm64)
    private const int CloseOnExec = 0x80000;   // O_CLOEXEC
    private const int Interrupted = 4;         // EINTR
    private const int InputOutput = 5;         // EIO

    /// <summary>Flushes <paramref name="directory"/>'s entries to disk. An I/O error there (EIO) is thrown; a folder that cannot be opened or flushed otherwise (a file system without fsync of folders) is skipped.</summary>
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = open(directory, ReadOnly | DirectoryOnly | CloseOnExec);
        if (fd < 0) return;
        try
        {
            int result;
            do result = fsync(fd);
            while (result != 0 && Marshal.GetLastPInvokeError() == Interrupted);
            if (result != 0 && Marshal.GetLastPInvokeError() == InputOutput)
                throw new IOException($"{directory}: fsync of the folder failed with an I/O error; what was just written there may be lost");
        }
        finally
        {
            _ = close(fd);
        }
    }

    /// <summary>Flushes a file's data to disk (a file written or copied without its own flush).</summary>
    public static void FlushFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Flush(flushToDisk: true);
    }

    // DllImport rather than LibraryImport: the generated marshalling of the latter needs unsafe code in the project.
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int close(int fd);
}
