using System.Globalization;

namespace P2PDistill.Shared.Runs;

/// <summary>
/// The one writer of a run (or experiment) directory: <c>DIR/.lock</c> held open with <see cref="FileShare.None"/> for the
/// life of the run. On Linux .NET takes an exclusive advisory <c>flock</c> on it, which a second process (or a second open in
/// this one) cannot take; the OS releases it when the holder exits or is killed, so a stale lock needs no clean-up and no pid
/// guessing. While locked the file cannot be read through .NET either (its reads take a shared <c>flock</c>), so the
/// holder's pid, host and start time are written beside it in <c>DIR/.lock.holder</c> for the refusal's message.
/// The lock file itself is never deleted: a deleted lock file could be locked twice (one process on the old inode, one on
/// the new).
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".lock";
    public const string HolderFileName = ".lock.holder";

    private readonly FileStream stream;
    private readonly string holderPath;

    private RunLock(string directory, FileStream stream)
    {
        Directory = directory;
        this.stream = stream;
        holderPath = Path.Combine(directory, HolderFileName);
    }

    /// <summary>The locked directory (full path).</summary>
    public string Directory { get; }

    /// <summary>
    /// Takes the lock of <paramref name="directory"/> (which must exist), or throws <see cref="RunLockedException"/> naming the
    /// process that holds it.
    /// </summary>
    public static RunLock Acquire(string directory) =>
        TryAcquire(directory) ?? throw new RunLockedException(Path.GetFullPath(directory), ReadHolder(directory));

    /// <summary>The lock of <paramref name="directory"/>, or null when another process (or another open here) holds it.</summary>
    public static RunLock? TryAcquire(string directory)
    {
        directory = Path.GetFullPath(directory);
        FileStream stream;
        try
        {
            stream = new FileStream(Path.Combine(directory, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (IsSharingViolation(e))
        {
            return null;
        }
        var held = new RunLock(directory, stream);
        try
        {
            held.WriteHolder();
        }
        catch
        {
            held.Dispose();
            throw;
        }
        return held;
    }

    /// <summary>
    /// The error .NET reports for a file another open holds with <see cref="FileShare.None"/>: EWOULDBLOCK from <c>flock</c> on
    /// Linux, ERROR_SHARING_VIOLATION on Windows. Any other error (a missing folder, a full disk) is not "locked".
    /// </summary>
    private static bool IsSharingViolation(IOException e) =>
        e.GetType() == typeof(IOException) && e.HResult is EWouldBlock or unchecked((int)0x80070020);

    private const int EWouldBlock = 11;

    /// <summary>Who holds the lock of <paramref name="directory"/>, as its holder wrote it (null when unknown).</summary>
    public static string? ReadHolder(string directory)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(directory, HolderFileName)).Trim();
            return text.Length > 0 ? text : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>This process, as the holder file names it.</summary>
    public static string Describe(int pid, string host, DateTime startUtc) =>
        string.Create(CultureInfo.InvariantCulture, $"pid {pid} on host {host}, since {startUtc:yyyy-MM-ddTHH:mm:ssZ}");

    private void WriteHolder()
    {
        var text = Describe(Environment.ProcessId, Environment.MachineName, DateTime.UtcNow) + Environment.NewLine;
        // In the lock file too, for `cat DIR/.lock` while nobody holds it (a dead holder's last words).
        stream.SetLength(0);
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        stream.Write(bytes);
        stream.Flush();
        Training.AtomicFile.WriteAllText(holderPath, text);
    }

    /// <summary>Releases the lock (the holder file goes first, while the lock still excludes a new holder).</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(holderPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next holder overwrites it.
        }
        stream.Dispose();
    }
}

/// <summary>A run or experiment directory another live process writes: a second writer is bad input (exit 2).</summary>
public sealed class RunLockedException(string directory, string? holder) : IOException(
    $"'{directory}' is in use by another run of this program ({holder ?? "holder unknown"}), which holds {System.IO.Path.Combine(directory, RunLock.FileName)}; " +
    "two writers would mix its metrics and prune each other's checkpoints. Stop that process first (a lock whose process has died is released by the OS " +
    "and taken over), or use another directory.")
{
    public string Directory { get; } = directory;

    public string? Holder { get; } = holder;
}
