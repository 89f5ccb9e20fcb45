using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Runs;

/// <summary>One run's folder: resolved configuration, metrics, summary (and later checkpoints, logs, exports).</summary>
public sealed class RunDirectory
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new Settings.SettingEnumJsonConverterFactory(), new Settings.ImageShapeJsonConverter() },
    };

    private RunDirectory(string path) => Path = path;

    public string Path { get; }

    /// <summary>
    /// Creates <c>parent/name</c> (name defaults to a UTC timestamp). A folder of that name that already holds a run
    /// (a config.json) is never reused: the new run gets a numeric suffix. A folder without one (e.g. made by a
    /// launcher for the node logs) is used as it is.
    /// </summary>
    public static RunDirectory Create(string parent, string? name)
    {
        var baseName = string.IsNullOrWhiteSpace(name) ? DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") : name;
        if (baseName.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) >= 0 || baseName is "." or "..")
            throw new ArgumentException($"run-name '{baseName}' is not a valid folder name");
        var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(parent, baseName));
        for (int i = 2; File.Exists(System.IO.Path.Combine(path, "config.json")); i++)
            path = System.IO.Path.GetFullPath(System.IO.Path.Combine(parent, $"{baseName}-{i}"));
        Directory.CreateDirectory(path);
        return new RunDirectory(path);
    }

    public static RunDirectory Open(string path) =>
        Directory.Exists(path) ? new RunDirectory(System.IO.Path.GetFullPath(path)) : throw new DirectoryNotFoundException($"run directory '{path}' does not exist");

    public string WriteConfiguration(object configuration) =>
        AtomicFile.WriteAllText(System.IO.Path.Combine(Path, "config.json"), JsonSerializer.Serialize(configuration, Json));

    public string WriteSummary(string markdown) => AtomicFile.WriteAllText(System.IO.Path.Combine(Path, "summary.md"), markdown);
}
