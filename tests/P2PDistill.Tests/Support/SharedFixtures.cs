namespace P2PDistill.Tests.Support;

/// <summary>Finds the team's read-only shared/ folder, which sits beside the checkout (../shared).</summary>
public static class SharedFixtures
{
    public static string Directory { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Directory, .. parts]);

    private static string Find()
    {
        var env = Environment.GetEnvironmentVariable("P2PDISTILL_SHARED");
        if (!string.IsNullOrEmpty(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { System.IO.Path.Combine(dir.FullName, "shared"), System.IO.Path.Combine(dir.FullName, "..", "shared") })
                if (File.Exists(System.IO.Path.Combine(candidate, "fixtures", "distill-loss-golden.json")))
                    return System.IO.Path.GetFullPath(candidate);
        }
        throw new InvalidOperationException(
            "Cannot find the shared/ folder (../shared/fixtures/distill-loss-golden.json beside the checkout). Set P2PDISTILL_SHARED to its path.");
    }
}
