using System.Security.Cryptography;
using System.Text.Json;

namespace P2PDistill.Shared.Training;

/// <summary>One model's part of a checkpoint.</summary>
/// <param name="StateStep">
/// The step this state was taken at when it is older than the checkpoint: a model absent from the cohort at checkpoint
/// time (a dead student, a lost teacher) keeps its last saved state, carried over from the previous checkpoint, so
/// that it comes back from there when it is restarted. 0: the checkpoint's own step.
/// </param>
public sealed record CheckpointModel(string Id, string Role, string ModelName, int Slot, long Seed, string File, string Sha256, long Bytes, long StateStep = 0);

/// <summary>A checkpoint's manifest (manifest.json), written last: a folder without one is incomplete.</summary>
public sealed record CheckpointManifest(string RunId, long Step, int Epoch, int StepInEpoch, DateTime CreatedUtc, IReadOnlyList<CheckpointModel> Models);

/// <summary>
/// Checkpoints under RUN/checkpoints/step-NNNNNNNN/: each model's full training state (weights, optimizer,
/// generator) and a manifest with the SHA-256 of every file. Written into a temporary folder, flushed, and renamed
/// into place, so a crash leaves either a whole checkpoint or none; older ones are pruned to a configured count.
/// </summary>
public sealed class CheckpointStore(string directory, int keep)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string Directory { get; } = directory;

    /// <param name="carryOverAbsent">Also keep, from the newest good checkpoint, the state of every model not in <paramref name="models"/>.</param>
    public string Write(string runId, long step, int epoch, int stepInEpoch, IEnumerable<(TrainerSetup Setup, int Slot, byte[] State)> models,
        bool carryOverAbsent = false)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var name = $"step-{step:D8}";
        var final = Path.Combine(Directory, name);
        var tmp = Path.Combine(Directory, $".{name}.{Guid.NewGuid():N}.tmp");
        System.IO.Directory.CreateDirectory(tmp);
        try
        {
            var parts = new List<CheckpointModel>();
            foreach (var (setup, slot, state) in models)
            {
                var file = setup.Id + ".state";
                using (var fs = new FileStream(Path.Combine(tmp, file), FileMode.CreateNew))
                {
                    fs.Write(state);
                    fs.Flush(flushToDisk: true);
                }
                parts.Add(new CheckpointModel(setup.Id, setup.Role == ModelRole.Teacher ? "teacher" : "student", setup.ModelName, slot, setup.Seed,
                    file, Convert.ToHexString(SHA256.HashData(state)).ToLowerInvariant(), state.LongLength));
            }
            // Only when the newest checkpoint has a model this one lacks is the previous good one verified and read.
            if (carryOverAbsent && NewestHasAbsent(parts) && LatestGood() is { } previous)
            {
                var old = ReadManifest(previous);
                foreach (var absent in old.Models.Where(o => parts.All(p => p.Id != o.Id)))
                {
                    File.Copy(Path.Combine(previous, absent.File), Path.Combine(tmp, absent.File));
                    parts.Add(absent with { StateStep = absent.StateStep > 0 ? absent.StateStep : old.Step });
                }
            }
            var manifest = new CheckpointManifest(runId, step, epoch, stepInEpoch, DateTime.UtcNow, parts);
            AtomicFile.WriteAllText(Path.Combine(tmp, "manifest.json"), JsonSerializer.Serialize(manifest, Json));
            if (System.IO.Directory.Exists(final)) System.IO.Directory.Delete(final, recursive: true);
            System.IO.Directory.Move(tmp, final);
        }
        catch
        {
            // A failed write (a full disk, a read-only folder) leaves no temporary folder behind, and the checkpoints
            // already on disk untouched.
            try { System.IO.Directory.Delete(tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        Prune();
        return final;
    }

    /// <summary>Checkpoint folders, newest first.</summary>
    public IReadOnlyList<string> List() => !System.IO.Directory.Exists(Directory)
        ? []
        : System.IO.Directory.GetDirectories(Directory, "step-*").OrderByDescending(d => d, StringComparer.Ordinal).ToList();

    /// <summary>Null when the checkpoint is whole and every file matches its checksum; else what is wrong.</summary>
    public static string? Verify(string checkpoint)
    {
        var manifestPath = Path.Combine(checkpoint, "manifest.json");
        if (!File.Exists(manifestPath)) return $"{checkpoint}: no manifest.json (incomplete checkpoint)";
        CheckpointManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<CheckpointManifest>(File.ReadAllText(manifestPath), Json);
        }
        catch (JsonException e)
        {
            return $"{manifestPath}: unreadable manifest ({e.Message})";
        }
        if (manifest is null || manifest.Models.Count == 0) return $"{manifestPath}: empty manifest";
        foreach (var m in manifest.Models)
        {
            var path = Path.Combine(checkpoint, m.File);
            if (!File.Exists(path)) return $"{path}: missing";
            var sha = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();
            if (sha != m.Sha256) return $"{path}: checksum mismatch (corrupt)";
        }
        return null;
    }

    /// <summary>Whether the newest checkpoint lists a model not in <paramref name="parts"/> (an unreadable manifest: maybe, let verification decide).</summary>
    private bool NewestHasAbsent(List<CheckpointModel> parts)
    {
        var newest = List().FirstOrDefault();
        if (newest is null) return false;
        try
        {
            return ReadManifest(newest).Models.Any(o => parts.All(p => p.Id != o.Id));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException)
        {
            return true;
        }
    }

    /// <summary>The step a model's saved state was taken at.</summary>
    public static long StateStepOf(CheckpointManifest manifest, CheckpointModel model) => model.StateStep > 0 ? model.StateStep : manifest.Step;

    public static CheckpointManifest ReadManifest(string checkpoint) =>
        JsonSerializer.Deserialize<CheckpointManifest>(File.ReadAllText(Path.Combine(checkpoint, "manifest.json")), Json)
        ?? throw new InvalidDataException($"{checkpoint}: empty manifest");

    /// <summary>The newest checkpoint that verifies; each bad one on the way is reported to <paramref name="skipped"/>.</summary>
    public string? LatestGood(Action<string>? skipped = null)
    {
        foreach (var c in List())
        {
            var why = Verify(c);
            if (why is null) return c;
            skipped?.Invoke(why);
        }
        return null;
    }

    private void Prune()
    {
        foreach (var old in List().Skip(Math.Max(1, keep))) System.IO.Directory.Delete(old, recursive: true);
    }
}
