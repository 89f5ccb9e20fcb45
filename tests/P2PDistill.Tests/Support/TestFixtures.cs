namespace P2PDistill.Tests.Support;

/// <summary>The repository's own test fixtures (tests/P2PDistill.Tests/Fixtures), copied beside the test assembly.</summary>
public static class TestFixtures
{
    public static string Directory { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string Path(params string[] parts)
    {
        var path = System.IO.Path.Combine([Directory, .. parts]);
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"Test fixture '{path}' is missing: it is copied from tests/P2PDistill.Tests/Fixtures by the test project; rebuild.", path);
        return path;
    }
}
