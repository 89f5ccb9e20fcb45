namespace P2PDistill.Shared.Actors;

/// <summary>This process's memory, for the periodic log line and the soak test: is a node leaking over a long run?</summary>
public sealed record NodeMemory(long ResidentBytes, long ManagedHeapBytes, long GcCommittedBytes, int Gen2Collections)
{
    /// <summary>Reads VmRSS from /proc/self/status (0 where there is none) and the GC's own figures.</summary>
    public static NodeMemory Read()
    {
        long rss = 0;
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            if (line is not null) rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        var info = GC.GetGCMemoryInfo();
        return new NodeMemory(rss, GC.GetTotalMemory(forceFullCollection: false), info.TotalCommittedBytes, GC.CollectionCount(2));
    }

    /// <summary>Resident memory outside the managed heap's committed memory: native code, libtorch, tensors, stacks.</summary>
    public long OtherBytes => Math.Max(0, ResidentBytes - GcCommittedBytes);

    public override string ToString() =>
        $"resident {Mib(ResidentBytes)} MiB (managed heap {Mib(ManagedHeapBytes)} MiB of {Mib(GcCommittedBytes)} MiB committed, " +
        $"other {Mib(OtherBytes)} MiB); gen2 collections {Gen2Collections}";

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}
