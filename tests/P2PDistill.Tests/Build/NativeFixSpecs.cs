namespace P2PDistill.Tests.Build;

/// <summary>The build's patch of TorchSharp's native wrapper (DESIGN.md §8, build/PatchGlibcxxNeed.cs).</summary>
[Trait("Category", "Unit")]
public sealed class NativeFixSpecs
{
    private static string PackagedLibrary()
    {
        var home = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                   ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(home, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    private static string OutputLibrary() => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    private static bool SystemHasVersion()
    {
        foreach (var lib in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
            if (File.Exists(lib))
                return System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(lib)).Contains("GLIBCXX_3.4.32\0");
        return true;
    }

    [Fact]
    public void Should_make_the_need_weak_in_memory_and_be_idempotent()
    {
        var bytes = File.ReadAllBytes(PackagedLibrary());
        var original = (byte[])bytes.Clone();
        Assert.Equal(ElfVersionNeeds.PatchResult.Patched, ElfVersionNeeds.MakeWeak(bytes, "GLIBCXX_3.4.32"));
        Assert.Equal(ElfVersionNeeds.PatchResult.AlreadyWeak, ElfVersionNeeds.MakeWeak(bytes, "GLIBCXX_3.4.32"));
        Assert.Equal(1, bytes.Zip(original).Count(p => p.First != p.Second));
    }

    [Fact]
    public void Should_leave_the_package_cache_untouched()
    {
        var bytes = File.ReadAllBytes(PackagedLibrary());
        Assert.Equal(ElfVersionNeeds.PatchResult.Patched, ElfVersionNeeds.MakeWeak(bytes, "GLIBCXX_3.4.32"));
    }

    [Fact]
    public void Should_have_patched_the_test_output_only_where_the_system_lacks_the_version()
    {
        var bytes = File.ReadAllBytes(OutputLibrary());
        var expected = SystemHasVersion() ? ElfVersionNeeds.PatchResult.Patched : ElfVersionNeeds.PatchResult.AlreadyWeak;
        Assert.Equal(expected, ElfVersionNeeds.MakeWeak(bytes, "GLIBCXX_3.4.32"));
    }

    [Fact]
    public void Should_report_files_that_are_not_elf()
    {
        Assert.Equal(ElfVersionNeeds.PatchResult.NotElf64, ElfVersionNeeds.MakeWeak(new byte[100], "GLIBCXX_3.4.32"));
    }
}
