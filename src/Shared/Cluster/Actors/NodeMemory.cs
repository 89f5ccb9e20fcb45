namespace P2PDistill.Shared.Actors;

/// <summary>This process's memory, for the periodic log line and the soak test: is a node leaking over a long run?</summary>
public sealed record NodeMemory(long ResidentBytes, long ManagedHeapBytes, long GcCommittedBytes, int Gen2Collections)
{
    /// <summary>Reads this process's VmRSS (0 where there is none) and the GC's own figures.</summary>
    public static NodeMemory Read()
    {
        var info = GC.GetGCMemoryInfo();
        return new NodeMemory((ResidentKiB("self") ?? 0) * 1024, GC.GetTotalMemory(forceFullCollection: false), info.TotalCommittedBytes, GC.CollectionCount(2));
    }

    /// <summary>A process's resident memory (VmRSS of /proc/<paramref name="process"/>/status, "self" or a pid) in KiB; null when it is gone or unreadable.</summary>
    public static long? ResidentKiB(string process)
    {
        try
        {
            var line = File.ReadLines($"/proc/{process}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Resident memory outside the managed heap's committed memory: native code, libtorch, tensors, stacks.</summary>
    public long OtherBytes => Math.Max(0, ResidentBytes - GcCommittedBytes);

    public override string ToString() =>
        $"resident {Mib(ResidentBytes)} MiB (managed heap {Mib(ManagedHeapBytes)} MiB of {Mib(GcCommittedBytes)} MiB committed, " +
        $"other {Mib(OtherBytes)} MiB); gen2 collections {Gen2Collections}";

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}
