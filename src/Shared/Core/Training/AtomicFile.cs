namespace P2PDistill.Shared.Training;

/// <summary>Writes a file through a temporary sibling, flushed to disk, then renamed over the target (the folder flushed too).</summary>
public static class AtomicFile
{
    /// <summary>Calls <paramref name="write"/> with a temporary path, then moves it to <paramref name="path"/>. Returns <paramref name="path"/>.</summary>
    public static string Write(string path, Action<string> write)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            write(tmp);
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
            File.Move(tmp, path, overwrite: true);
            DurableDirectory.Flush(dir);
            return path;
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static string WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));
}
