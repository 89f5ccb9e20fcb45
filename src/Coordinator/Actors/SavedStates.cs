using System.Security.Cryptography;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>One model's saved training state: in memory (read by <c>--resume</c> at start-up) or in a checkpoint file.</summary>
internal sealed record SavedState(string Id, string ModelName, long Seed, int Slot, long Step, byte[]? Bytes, string? File, string? Sha256)
{
    /// <summary>Whether this state belongs to a model of this slot, architecture and seed (DESIGN.md §6: restore matches all three).</summary>
    public bool Fits(TrainerSetup setup, int slot) => Id == setup.Id && Slot == slot && ModelName == setup.ModelName && Seed == setup.Seed;

    /// <summary>
    /// Reads the state, verifying its checksum, and the step it was taken at. Called off the coordinator's mailbox, so a
    /// checkpoint may be written meanwhile, and its prune delete this state's checkpoint before the coordinator learns of the new
    /// one: the state is then read from the newest checkpoint that holds this model (the new one, where it was carried over or
    /// saved again), provided it is still a model of this architecture, seed and slot.
    /// </summary>
    public (byte[] State, long Step) Load()
    {
        if (Bytes is not null) return (Bytes, Step);
        byte[] bytes;
        try
        {
            bytes = System.IO.File.ReadAllBytes(File!);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return LoadNewer(e.Message);
        }
        var sha = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        if (sha != Sha256) throw new InvalidDataException($"{File}: checksum mismatch (corrupt)");
        return (bytes, Step);
    }

    /// <summary>This model's state from the newest checkpoint, the file of this one having gone (<paramref name="why"/>).</summary>
    private (byte[] State, long Step) LoadNewer(string why)
    {
        var checkpoints = Path.GetDirectoryName(Path.GetDirectoryName(File!))!;
        var newer = new CheckpointStore(checkpoints, keep: 1).NewestStateOf(Id) // keep: unused by a read
                    ?? throw new FileNotFoundException($"{File}: gone ({why}), and no checkpoint in '{checkpoints}' holds the state of {Id}");
        var (manifest, model, state) = newer;
        if (model.ModelName != ModelName || model.Seed != Seed || model.Slot != Slot)
            throw new InvalidDataException($"{File}: gone ({why}), and the newest checkpoint holds a {model.ModelName} (seed {model.Seed}, slot {model.Slot}) " +
                                           $"as {Id}, not this {ModelName} (seed {Seed}, slot {Slot})");
        return (state, CheckpointStore.StateStepOf(manifest, model));
    }
}

/// <summary>
/// The newest saved state of every slot, kept in memory so that a (re)joining model is matched to its state without
/// touching the disk on the coordinator's mailbox. Filled from the resume point and from each checkpoint written.
/// </summary>
internal sealed class SavedStates
{
    private readonly Dictionary<string, SavedState> byId = [];

    public static SavedStates From(ResumePoint? resume)
    {
        var states = new SavedStates();
        if (resume is null) return states;
        foreach (var m in resume.Models)
            states.byId[m.Id] = new SavedState(m.Id, m.ModelName, m.Seed, m.Slot, m.Step, m.State, null, null);
        return states;
    }

    /// <summary>After a checkpoint is written: its files are the newest states (absent models were carried over into it).</summary>
    public void Update(string checkpoint, CheckpointManifest manifest)
    {
        foreach (var m in manifest.Models)
            byId[m.Id] = new SavedState(m.Id, m.ModelName, m.Seed, m.Slot, CheckpointStore.StateStepOf(manifest, m), null,
                Path.Combine(checkpoint, m.File), m.Sha256);
    }

    /// <summary>The highest student slot with a saved state (0: none).</summary>
    public int MaxStudentSlot => byId.Values.Where(s => s.Slot > 0).Select(s => s.Slot).DefaultIfEmpty().Max();

    public SavedState? For(string id) => byId.GetValueOrDefault(id);

    /// <summary>The model name saved for a slot, if any.</summary>
    public string? ModelNameOf(string id) => byId.TryGetValue(id, out var s) ? s.ModelName : null;
}

/// <summary>Where a resumed run starts: the checkpoint's position and every model's saved state.</summary>
public sealed record ResumePoint(long Step, int Epoch, int StepInEpoch, IReadOnlyList<ResumeModel> Models);

/// <summary>One model's state in the checkpoint a run resumes from.</summary>
public sealed record ResumeModel(string Id, string ModelName, long Seed, int Slot, long Step, byte[] State);
