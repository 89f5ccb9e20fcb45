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
/// generator) and a manifest with the SHA-256 of every file. Written into a temporary folder (.step-N.ID.tmp), every
/// file flushed, and renamed into place, the parent folder flushed after each rename. A step written again replaces its
/// folder without ever leaving none: the old one is renamed aside (.step-N.old), the new one moved in, then the old one
/// deleted. Opening the store to write or to resume (<see cref="Write"/>, <see cref="LatestGood"/>) first tidies what a
/// crash left (<see cref="Recover"/>), so a crash at any point leaves the newest whole checkpoint findable. Older
/// checkpoints are pruned to a configured count, the one just written always kept, and those after it (the timeline a resume
/// from an older checkpoint abandoned) removed. One writer per run directory is assumed.
/// </summary>
public sealed class CheckpointStore(string directory, int keep)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private const string ManifestFile = "manifest.json";
    private const string TempSuffix = ".tmp";
    private const string AsideSuffix = ".old";

    /// <summary>A manifest larger than this is refused unread: a real one lists a few models in a few hundred bytes each.</summary>
    private const long MaxManifestBytes = 16L << 20;

    public string Directory { get; } = directory;

    /// <summary>
    /// Deletes a folder and everything in it: <see cref="System.IO.Directory.Delete(string, bool)"/>. A test seam, so that a
    /// failing delete can be made without a file system that refuses one (root ignores permissions).
    /// </summary>
    internal Action<string> DeleteFolder { private get; init; } = folder => System.IO.Directory.Delete(folder, recursive: true);

    /// <summary>
    /// Writes the checkpoint of step <paramref name="step"/> (replacing one of that step), then prunes (<see cref="Prune"/>).
    /// Returns its folder.
    /// </summary>
    /// <param name="carryOverAbsent">Also keep, from the newest good checkpoint, the state of every model not in <paramref name="models"/>.</param>
    /// <param name="warning">
    /// Told what the prune removed beyond the oldest checkpoints (a timeline a resume abandoned), and what it or the tidying before
    /// the write could not do: neither fails the write, whose checkpoint is whole and in place by then.
    /// </param>
    public string Write(string runId, long step, int epoch, int stepInEpoch, IEnumerable<(TrainerSetup Setup, int Slot, byte[] State)> models,
        bool carryOverAbsent = false, Action<string>? warning = null)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            // The folder's own entry must survive a power cut too, else every checkpoint in it goes with it.
            System.IO.Directory.CreateDirectory(Directory);
            if (Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(Directory))) is { } parent) DurableDirectory.Flush(parent);
        }
        TryRecover(warning);
        var name = $"step-{step:D8}";
        var final = Path.Combine(Directory, name);
        var aside = Path.Combine(Directory, $".{name}{AsideSuffix}");
        var tmp = Path.Combine(Directory, $".{name}.{Guid.NewGuid():N}{TempSuffix}");
        System.IO.Directory.CreateDirectory(tmp);
        var setAside = false;
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
            CheckpointCrash.At("after-state-files", step);
            // Only when the newest checkpoint has a model this one lacks is the previous good one verified and read.
            if (carryOverAbsent && NewestHasAbsent(parts) && NewestGood(null) is { } previous)
            {
                var old = ReadManifest(previous);
                foreach (var absent in old.Models.Where(o => parts.All(p => p.Id != o.Id)))
                {
                    var copy = Path.Combine(tmp, absent.File);
                    File.Copy(Path.Combine(previous, absent.File), copy);
                    DurableDirectory.FlushFile(copy);
                    parts.Add(absent with { StateStep = absent.StateStep > 0 ? absent.StateStep : old.Step });
                }
            }
            var manifest = new CheckpointManifest(runId, step, epoch, stepInEpoch, DateTime.UtcNow, parts);
            AtomicFile.WriteAllText(Path.Combine(tmp, ManifestFile), JsonSerializer.Serialize(manifest, Json)); // flushes tmp too
            CheckpointCrash.At("after-manifest", step);
            if (System.IO.Directory.Exists(final))
            {
                // Replacing step N: the old folder goes aside first, so that a crash from here on leaves it or the new one.
                DeleteQuietly(aside); // a stale one the sweep could not remove
                System.IO.Directory.Move(final, aside);
                setAside = true;
                DurableDirectory.Flush(Directory);
                CheckpointCrash.At("after-aside", step);
            }
            System.IO.Directory.Move(tmp, final);
            DurableDirectory.Flush(Directory);
            CheckpointCrash.At("after-move-in", step);
        }
        catch
        {
            // A failed write (a full disk, a read-only folder) leaves no temporary folder behind, and the checkpoints
            // already on disk as they were.
            DeleteQuietly(tmp);
            if (setAside && !System.IO.Directory.Exists(final))
                try { System.IO.Directory.Move(aside, final); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        if (setAside)
        {
            DeleteQuietly(aside); // else swept at the next start
            DurableDirectory.Flush(Directory);
        }
        Prune(step, name, warning);
        return final;
    }

    /// <summary>
    /// Tidies what an interrupted write left: a checkpoint set aside for its replacement goes back to its place when the
    /// replacement never landed (else it is deleted), and every temporary folder is deleted. Returns what was done.
    /// </summary>
    public IReadOnlyList<string> Recover()
    {
        var done = new List<string>();
        if (!System.IO.Directory.Exists(Directory)) return done;
        foreach (var aside in System.IO.Directory.GetDirectories(Directory, ".step-*" + AsideSuffix))
        {
            var final = Path.Combine(Directory, Path.GetFileName(aside)[1..^AsideSuffix.Length]);
            if (System.IO.Directory.Exists(final))
            {
                System.IO.Directory.Delete(aside, recursive: true);
                done.Add($"removed {aside}: its replacement {Path.GetFileName(final)} was written");
            }
            else
            {
                System.IO.Directory.Move(aside, final);
                done.Add($"moved {aside} back to {Path.GetFileName(final)}: its replacement was interrupted");
            }
        }
        foreach (var tmp in System.IO.Directory.GetDirectories(Directory, ".step-*" + TempSuffix))
        {
            System.IO.Directory.Delete(tmp, recursive: true);
            done.Add($"removed {tmp}: left by an interrupted write");
        }
        if (done.Count > 0) DurableDirectory.Flush(Directory);
        return done;
    }

    /// <summary>
    /// Checkpoint folders, newest first: by the step their name gives (names have 8 digits up to step 99,999,999 and more
    /// after, so text order would take step 99,999,999 for newer than step 100,000,000); a name that is not a step sorts last.
    /// </summary>
    public IReadOnlyList<string> List() => !System.IO.Directory.Exists(Directory)
        ? []
        : System.IO.Directory.GetDirectories(Directory, "step-*")
            .OrderByDescending(StepOf)
            .ThenByDescending(d => d, StringComparer.Ordinal)
            .ToList();

    /// <summary>The step a checkpoint folder's name gives; -1 for a name that is not a step.</summary>
    private static long StepOf(string checkpoint) =>
        long.TryParse(Path.GetFileName(checkpoint).AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var step) ? step : -1;

    /// <summary>
    /// Null when the checkpoint is whole and every file matches its size and checksum; else what is wrong. Never throws:
    /// a checkpoint folder is input, and whatever fails reading it (a malformed or hostile manifest, an unreadable file)
    /// makes it not good.
    /// </summary>
    public static string? Verify(string checkpoint)
    {
        var manifestPath = Path.Combine(checkpoint, ManifestFile);
        try
        {
            if (!File.Exists(manifestPath)) return $"{checkpoint}: no {ManifestFile} (incomplete checkpoint)";
            var why = TryRead(checkpoint, out var manifest);
            if (why is not null) return why;
            foreach (var m in manifest!.Models)
            {
                var file = new FileInfo(Path.Combine(checkpoint, m.File));
                if (!file.Exists) return $"{file.FullName}: missing";
                if (file.Length != m.Bytes) return $"{file.FullName}: {file.Length:N0} bytes where {manifestPath} says {m.Bytes:N0} bytes (truncated or corrupt)";
                string sha;
                using (var stream = file.OpenRead()) sha = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
                if (sha != m.Sha256) return $"{file.FullName}: checksum mismatch (corrupt)";
            }
            return null;
        }
        catch (Exception e)
        {
            return $"{manifestPath}: unreadable checkpoint ({e.GetType().Name}: {e.Message})";
        }
    }

    /// <summary>Whether the newest checkpoint lists a model not in <paramref name="parts"/> (an unreadable manifest: maybe, let verification decide).</summary>
    private bool NewestHasAbsent(List<CheckpointModel> parts)
    {
        var newest = List().FirstOrDefault();
        if (newest is null) return false;
        return TryRead(newest, out var manifest) is not null || manifest!.Models.Any(o => parts.All(p => p.Id != o.Id));
    }

    /// <summary>
    /// The saved state of model <paramref name="id"/> in the newest checkpoint that lists it with its file present and matching
    /// its checksum (a checkpoint pruned meanwhile, or a bad one, is passed over), with that checkpoint's manifest; null when none
    /// does. Reads only: it may run beside a write, whose prune may remove a checkpoint under it.
    /// </summary>
    public (CheckpointManifest Manifest, CheckpointModel Model, byte[] State)? NewestStateOf(string id)
    {
        foreach (var checkpoint in List())
        {
            if (TryRead(checkpoint, out var manifest) is not null || manifest!.Models.FirstOrDefault(m => m.Id == id) is not { } model) continue;
            byte[] state;
            try
            {
                state = File.ReadAllBytes(Path.Combine(checkpoint, model.File));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (Convert.ToHexString(SHA256.HashData(state)).ToLowerInvariant() == model.Sha256) return (manifest, model, state);
        }
        return null;
    }

    /// <summary>The step a model's saved state was taken at.</summary>
    public static long StateStepOf(CheckpointManifest manifest, CheckpointModel model) => model.StateStep > 0 ? model.StateStep : manifest.Step;

    /// <summary>The checkpoint's manifest; an <see cref="InvalidDataException"/> saying why when it is missing, malformed or inconsistent.</summary>
    public static CheckpointManifest ReadManifest(string checkpoint) =>
        TryRead(checkpoint, out var manifest) is { } why ? throw new InvalidDataException(why) : manifest!;

    /// <summary>Null and the manifest, or why it cannot be used. Never throws.</summary>
    private static string? TryRead(string checkpoint, out CheckpointManifest? manifest)
    {
        manifest = null;
        var path = Path.Combine(checkpoint, ManifestFile);
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) return $"{checkpoint}: no {ManifestFile} (incomplete checkpoint)";
            if (info.Length > MaxManifestBytes) return $"{path}: {info.Length:N0} bytes, far more than a manifest (corrupt)";
            manifest = JsonSerializer.Deserialize<CheckpointManifest>(File.ReadAllBytes(path), Json);
        }
        catch (Exception e)
        {
            return $"{path}: unreadable manifest ({e.Message})";
        }
        var problem = Problem(manifest);
        if (problem is null) return null;
        manifest = null;
        return $"{path}: {problem}";
    }

    /// <summary>What makes a parsed manifest unusable (fields missing or null, negative counts, paths out of the folder, repeats).</summary>
    private static string? Problem(CheckpointManifest? manifest)
    {
        if (manifest is null) return "empty manifest";
        if (manifest.Models is null) return "no models listed";
        if (manifest.Models.Count == 0) return "empty manifest (no models)";
        if (manifest.Step < 0 || manifest.Epoch < 0 || manifest.StepInEpoch < 0)
            return $"negative position (step {manifest.Step}, epoch {manifest.Epoch}, step in epoch {manifest.StepInEpoch})";
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var files = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < manifest.Models.Count; i++)
        {
            var m = manifest.Models[i];
            var what = $"model {i + 1}";
            if (m is null) return $"{what} is null";
            if (string.IsNullOrWhiteSpace(m.Id)) return $"{what} has no id";
            what += $" ({m.Id})";
            if (string.IsNullOrEmpty(m.File)) return $"{what} has no file";
            if (!IsFileName(m.File)) return $"{what}: file '{m.File}' is not the name of a file in the checkpoint's folder";
            if (m.Sha256 is not { Length: 64 } sha || !sha.All(char.IsAsciiHexDigitLower)) return $"{what} has no valid sha256 (64 lowercase hex digits)";
            if (m.Bytes < 0 || m.Slot < 0 || m.StateStep < 0) return $"{what}: negative bytes, slot or state_step";
            if (m.Role is not ("teacher" or "student")) return $"{what}: role '{m.Role}' is neither teacher nor student";
            if (string.IsNullOrWhiteSpace(m.ModelName)) return $"{what} has no model_name";
            if (!ids.Add(m.Id)) return $"{what} is listed twice";
            if (!files.Add(m.File)) return $"{what}: file '{m.File}' is listed twice";
        }
        return null;
    }

    private static bool IsFileName(string file) =>
        file is not ("." or ".." or ManifestFile) && file == Path.GetFileName(file) && file.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && !file.Contains('\\');

    /// <summary>
    /// The newest checkpoint that verifies; each bad one on the way is reported to <paramref name="skipped"/>. Tidies
    /// first what an interrupted write left (<see cref="Recover"/>); a failure to tidy is reported to
    /// <paramref name="skipped"/> too, and the search goes on.
    /// </summary>
    public string? LatestGood(Action<string>? skipped = null)
    {
        TryRecover(skipped);
        return NewestGood(skipped);
    }

    /// <summary><see cref="Recover"/>, a failure only reported: a leftover that cannot be removed must not stop a resume or the next checkpoint.</summary>
    private void TryRecover(Action<string>? failed)
    {
        try
        {
            Recover();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            failed?.Invoke($"{Directory}: could not tidy after an interrupted write ({e.Message})");
        }
    }

    private string? NewestGood(Action<string>? skipped)
    {
        foreach (var c in List())
        {
            var why = Verify(c);
            if (why is null) return c;
            skipped?.Invoke(why);
        }
        return null;
    }

    /// <summary>
    /// After the checkpoint <paramref name="written"/> (of step <paramref name="step"/>): keeps it and the newest <c>keep</c> − 1
    /// checkpoints before it, whether they verify or not, and deletes the rest, each renamed to a temporary folder first, so that a
    /// crash mid-delete leaves no half checkpoint. A checkpoint after the one just written belongs to the timeline a resume
    /// abandoned (the run went on from an older checkpoint, the newer ones being bad): it is deleted too, and reported to
    /// <paramref name="warning"/>, so that neither this prune nor a later <c>--resume</c> ever takes it over the one just written.
    /// A checkpoint that cannot be deleted is a warning too, never a failure: the one just written is in place.
    /// </summary>
    private void Prune(long step, string written, Action<string>? warning)
    {
        IReadOnlyList<string> checkpoints;
        try
        {
            checkpoints = List();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warning?.Invoke($"{Directory}: could not list the old checkpoints to prune ({e.Message}); the next checkpoint tries again");
            return;
        }
        int older = 0;
        foreach (var checkpoint in checkpoints)
        {
            if (Path.GetFileName(checkpoint) == written) continue;
            if (StepOf(checkpoint) > step)
            {
                if (Delete(checkpoint))
                    warning?.Invoke($"removed {checkpoint}: it follows step {step}, just written, on the timeline abandoned when this run was resumed from an older checkpoint");
            }
            else if (++older >= Math.Max(1, keep)) Delete(checkpoint);
        }

        bool Delete(string checkpoint)
        {
            var doomed = Path.Combine(Directory, $".{Path.GetFileName(checkpoint)}.{Guid.NewGuid():N}{TempSuffix}");
            try
            {
                System.IO.Directory.Move(checkpoint, doomed);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warning?.Invoke($"could not remove the old checkpoint {checkpoint} ({e.Message}); it stays, and the next checkpoint tries again");
                return false;
            }
            try
            {
                DurableDirectory.Flush(Directory);
            }
            catch (IOException e)
            {
                warning?.Invoke($"{Directory}: could not flush the folder after setting {checkpoint} aside for deletion ({e.Message})");
            }
            CheckpointCrash.At("after-prune-aside", step);
            try
            {
                DeleteFolder(doomed);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warning?.Invoke($"could not delete {doomed}, the old checkpoint {Path.GetFileName(checkpoint)} set aside for deletion ({e.Message}); " +
                                "it is swept at the next checkpoint or resume");
            }
            return true;
        }
    }

    private static void DeleteQuietly(string folder)
    {
        try
        {
            if (System.IO.Directory.Exists(folder)) System.IO.Directory.Delete(folder, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
