using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Runs;

/// <summary>
/// One run's folder: resolved configuration, metrics, summary (and later checkpoints, logs, exports). A folder this process
/// created holds its <see cref="RunLock"/> until disposed, so that no second process writes it.
/// </summary>
public sealed class RunDirectory : IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new Settings.SettingEnumJsonConverterFactory(), new Settings.ImageShapeJsonConverter() },
    };

    private readonly RunLock? held;

    private RunDirectory(string path, RunLock? held = null)
    {
        Path = path;
        this.held = held;
    }

    public string Path { get; }

    /// <summary>
    /// Creates <c>parent/name</c> (name defaults to a UTC timestamp). A folder of that name that already holds a run
    /// (a config.json) is never reused: the new run gets a numeric suffix. A folder without one (e.g. made by a
    /// launcher for the node logs) is used as it is. The folder's <see cref="RunLock"/> is taken before the check and held
    /// until <see cref="Dispose"/>: a folder another live process holds (e.g. a second coordinator started the same second
    /// with the same timestamp name) is skipped like one that holds a run.
    /// </summary>
    public static RunDirectory Create(string parent, string? name)
    {
        var baseName = string.IsNullOrWhiteSpace(name) ? DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") : name;
        if (baseName.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) >= 0 || baseName is "." or "..")
            throw new ArgumentException($"run-name '{baseName}' is not a valid folder name");
        var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(parent, baseName));
        for (int i = 2; ; i++)
        {
            if (!HoldsRun(path))
            {
                Directory.CreateDirectory(path);
                if (RunLock.TryAcquire(path) is { } held)
                {
                    if (!HoldsRun(path)) return new RunDirectory(path, held);
                    held.Dispose(); // another process wrote its run there before we locked it
                }
            }
            path = System.IO.Path.GetFullPath(System.IO.Path.Combine(parent, $"{baseName}-{i}"));
        }
    }

    private static bool HoldsRun(string path) => File.Exists(System.IO.Path.Combine(path, "config.json"));

    /// <summary>An existing run's folder, as it is (its lock is the caller's: <see cref="RunLock.Acquire"/>).</summary>
    public static RunDirectory Open(string path) =>
        Directory.Exists(path) ? new RunDirectory(System.IO.Path.GetFullPath(path)) : throw new DirectoryNotFoundException($"run directory '{path}' does not exist");

    /// <summary>A value as config.json records it (snake_case names, settings by their flag names).</summary>
    public static JsonNode? ToJson(object value) => JsonSerializer.SerializeToNode(value, value.GetType(), Json);

    /// <summary>The run's config.json, or null when it is missing or not a JSON object.</summary>
    public JsonObject? ReadConfiguration()
    {
        var path = System.IO.Path.Combine(Path, "config.json");
        try
        {
            return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public string WriteConfiguration(object configuration) =>
        AtomicFile.WriteAllText(System.IO.Path.Combine(Path, "config.json"), JsonSerializer.Serialize(configuration, Json));

    public string WriteSummary(string markdown) => AtomicFile.WriteAllText(System.IO.Path.Combine(Path, "summary.md"), markdown);

    /// <summary>Releases the folder's lock, if this object took it.</summary>
    public void Dispose() => held?.Dispose();
}
