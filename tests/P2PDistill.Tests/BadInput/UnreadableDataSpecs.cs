using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Support;
using SkiaSharp;

namespace P2PDistill.Tests.BadInput;

/// <summary>
/// An image folder with a class folder or an image the process may not read: the coordinator names it and what to do
/// (chmod), and exits 2. Real processes, so that file modes apply even when the tests run as root (<see cref="WithoutRootOverride"/>).
/// </summary>
[Trait("Category", "Fault")]
[Collection(ProcessTests.Name)]
public sealed class UnreadableDataSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly SKColor Gray = new(120, 120, 120);

    /// <summary>
    /// The coordinator loading this folder in a process where file modes apply even to root (the CI runs as root): the
    /// error it prints and its exit code.
    /// </summary>
    private ProcessResult LoadFolderWithFileModes() => WithoutRootOverride.RunCoordinator(
        NodeArgs.Coordinator().SingleProcess().Dataset("folder").DataPath(dir.Path).Set("--image-size", 8).Set("--channels", 1).Config("Data:TestFraction", "0.5")
            .Models("tiny", "tiny").Output(Path.Combine(Path.GetTempPath(), "p2pd-unread-" + Guid.NewGuid().ToString("N")[..8])),
        Path.GetTempPath(), TimeSpan.FromMinutes(2));

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Should_name_an_unreadable_class_folder()
    {
        TestFiles.WritePng(dir.Combine("a", "1.png"), 8, 8, Gray);
        TestFiles.WritePng(dir.Combine("a", "2.png"), 8, 8, Gray);
        TestFiles.WritePng(dir.Combine("b", "1.png"), 8, 8, Gray);
        File.SetUnixFileMode(dir.Combine("b"), UnixFileMode.None);
        try
        {
            var r = LoadFolderWithFileModes();

            Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
            Assert.Contains(dir.Path, r.Output);
            Assert.Contains("cannot be read", r.Output);
            Assert.Contains("chmod", r.Output);
        }
        finally
        {
            File.SetUnixFileMode(dir.Combine("b"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Should_name_an_unreadable_image_file()
    {
        foreach (var c in new[] { "a", "b" })
        {
            TestFiles.WritePng(dir.Combine(c, "1.png"), 8, 8, Gray);
            TestFiles.WritePng(dir.Combine(c, "2.png"), 8, 8, Gray);
        }
        var locked = dir.Combine("b", "2.png");
        File.SetUnixFileMode(locked, UnixFileMode.None);

        var r = LoadFolderWithFileModes();

        Assert.Equal((int)ExitCode.BadInput, r.ExitCode);
        Assert.Contains($"Image file '{locked}' cannot be read", r.Output);
        Assert.Contains("chmod", r.Output);
    }
}
