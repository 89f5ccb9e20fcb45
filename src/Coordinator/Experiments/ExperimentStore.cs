using System.Text.Json;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Experiments;

/// <summary>
/// An experiment's output folder: <c>results.csv</c> (one row per finished run, the record that makes the experiment
/// resumable), <c>results.jsonl</c> (the same rows with every metric of the final evaluation), <c>experiment.json</c>
/// (the settings every run shares), <c>results.md</c>, <c>plots/</c> and <c>runs/NAME/</c> (each run's metrics). The header of
/// results.csv names the task's metrics (<see cref="ExperimentMetrics.CsvHeader"/>).
/// </summary>
public sealed class ExperimentStore
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public ExperimentStore(string directory, ExperimentMetrics metrics)
    {
        Directory = Path.GetFullPath(directory);
        Metrics = metrics;
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    /// <summary>What the rows record: the experiment's task's metrics.</summary>
    public ExperimentMetrics Metrics { get; }
    public string CsvPath => Path.Combine(Directory, "results.csv");
    public string JsonPath => Path.Combine(Directory, "results.jsonl");
    public string SettingsPath => Path.Combine(Directory, "experiment.json");
    public string ReportPath => Path.Combine(Directory, "results.md");
    public string PlotDirectory => Path.Combine(Directory, "plots");
    public string RunDirectory(ExperimentKey key) => Path.Combine(Directory, "runs", key.RunName);

    /// <summary>
    /// The settings every run of this folder shares (data, epochs, models, optimizer ...): stored on first use, and a
    /// later start with different ones is refused, so that one table never mixes runs made under different settings.
    /// Returns null when they match (or were just stored), else what differs. A setting that a folder written by an older version
    /// lacks is compared as <paramref name="olderDefaults"/> gives it (what that version used), and the stored file is left as it is.
    /// </summary>
    public string? CheckSettings(IReadOnlyDictionary<string, string> settings, IReadOnlyDictionary<string, string>? olderDefaults = null)
    {
        var sorted = new SortedDictionary<string, string>(settings.ToDictionary(p => p.Key, p => p.Value), StringComparer.OrdinalIgnoreCase);
        if (!File.Exists(SettingsPath))
        {
            AtomicFile.WriteAllText(SettingsPath, JsonSerializer.Serialize(sorted, Indented));
            return null;
        }
        var stored = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(SettingsPath)) ?? [];
        var storedSorted = new SortedDictionary<string, string>(stored, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in olderDefaults ?? new Dictionary<string, string>())
            storedSorted.TryAdd(key, value);
        var differences = storedSorted.Keys.Union(sorted.Keys, StringComparer.OrdinalIgnoreCase)
            .Where(k => storedSorted.GetValueOrDefault(k) != sorted.GetValueOrDefault(k))
            .Select(k => $"{k}: {storedSorted.GetValueOrDefault(k) ?? "(not set)"} then, {sorted.GetValueOrDefault(k) ?? "(not set)"} now")
            .ToList();
        return differences.Count == 0 ? null : string.Join("; ", differences);
    }

    /// <summary>
    /// Every finished run in results.csv. A line that cannot be read (a torn row of a run killed while writing) is reported,
    /// removed from the file, and its run is redone. A file whose header is another task's is refused (<see cref="InvalidDataException"/>):
    /// its rows would read as this task's figures.
    /// </summary>
    public IReadOnlyList<ExperimentRow> Load(Action<string>? warn = null)
    {
        if (!File.Exists(CsvPath)) return [];
        var rows = new List<ExperimentRow>();
        var good = new List<string> { Metrics.CsvHeader };
        var lines = File.ReadAllLines(CsvPath);
        if (lines.Length > 0 && lines[0] != Metrics.CsvHeader && ExperimentMetrics.All.FirstOrDefault(m => m.CsvHeader == lines[0]) is { } other)
            throw new InvalidDataException($"{CsvPath} holds {other.HeadlineTitle} rows, and this experiment records {Metrics.HeadlineTitle}: use another --output.");
        for (int i = 0; i < lines.Length; i++)
        {
            if (i == 0 && lines[i] == Metrics.CsvHeader) continue;
            if (lines[i].Length == 0) continue;
            try
            {
                rows.Add(ExperimentRow.FromCsv(lines[i]));
                good.Add(lines[i]);
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                warn?.Invoke($"{CsvPath}:{i + 1}: skipped an unreadable row ({e.Message}); that run is redone.");
            }
        }
        // Drop what could not be read, so the file holds whole rows only and the warning is given once.
        if (good.Count != lines.Length) AtomicFile.Write(CsvPath, tmp => File.WriteAllLines(tmp, good));
        // A run that was redone keeps its newest row.
        return rows.GroupBy(r => r.Key).Select(g => g.Last()).ToList();
    }

    /// <summary>Appends a finished run: first the JSON line (every metric), then the CSV row that marks the run as done.</summary>
    public void Append(ExperimentRow row, object details)
    {
        File.AppendAllText(JsonPath, JsonSerializer.Serialize(details, Json) + Environment.NewLine);
        bool fresh = !File.Exists(CsvPath) || new FileInfo(CsvPath).Length == 0;
        using var w = new StreamWriter(new FileStream(CsvPath, FileMode.Append, FileAccess.Write, FileShare.Read));
        if (fresh) w.WriteLine(Metrics.CsvHeader);
        else if (!EndsWithNewline(CsvPath)) w.WriteLine();
        w.WriteLine(row.ToCsv());
        w.Flush();
        w.BaseStream.Flush();
    }

    private static bool EndsWithNewline(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (fs.Length == 0) return true;
        fs.Seek(-1, SeekOrigin.End);
        return fs.ReadByte() == '\n';
    }
}
