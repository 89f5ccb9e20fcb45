using Akka.Actor;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Actors;

/// <summary>The coordinator's checkpoints and export: collected from the models, written off the mailbox.</summary>
public sealed partial class CoordinatorActor
{
    // ---------------------------------------------------------------- checkpoints and the export

    /// <summary>Collects every cohort model's state (or weights, for the export), then writes it off the mailbox.</summary>
    private void Save(SaveKind kind, AfterSave then)
    {
        var directory = kind == SaveKind.Checkpoint ? settings.CheckpointDirectory : settings.ExportDirectory;
        if (directory is null || cohort.Count == 0)
        {
            Continue(then);
            return;
        }
        var c = new CollectingState(NextAttempt(), kind, then, cohort.Select(m => m.Actor).ToList(), WireLimits.Of(Context.System).ChunkBytes);
        GoTo(c, settings.EvalTimeout);
        foreach (var m in cohort) m.Actor.Tell(new ExportWeights(c.Attempt, kind == SaveKind.Checkpoint));
    }

    private void OnChunk(CollectingState s, WeightsChunk c)
    {
        if (!s.Awaiting.Contains(Sender) || !s.Parts.TryGetValue(Sender, out var parts)) return;
        if (!parts.TryAdd(c.Index, c.Count, c.Data, out var whole))
        {
            // Nothing of a refused transfer is kept: that model is left out of this checkpoint or export, the others are written.
            log.Warning("The {0} of {1} is refused: {2}; it is left out of the {0}", s.Kind == SaveKind.Checkpoint ? "checkpoint" : "export", IdOf(Sender), parts.Problem);
            s.Parts.Remove(Sender);
            s.Awaiting.Remove(Sender);
            if (s.Awaiting.Count == 0) EndCollect(s);
            return;
        }
        if (whole is null || !known.TryGetValue(Sender, out var m)) return;
        s.Collected.Add((m, whole));
        s.Awaiting.Remove(Sender);
        if (s.Awaiting.Count == 0) EndCollect(s);
    }

    private void EndCollect(CollectingState c)
    {
        if (!ReferenceEquals(state, c)) return;
        if (c.Collected.Count == 0)
        {
            log.Warning("Nothing collected for the {0}: nothing written", c.Kind == SaveKind.Checkpoint ? "checkpoint" : "export");
            Continue(c.Then);
            return;
        }
        var w = new WritingState(NextAttempt(), c.Kind, c.Then);
        GoTo(w);
        var collected = c.Collected.OrderBy(x => x.Member.Slot).Select(x => (x.Member.Setup, x.Member.Slot, x.Bytes)).ToList();
        long attempt = w.Attempt;
        if (c.Kind == SaveKind.Checkpoint)
        {
            var store = new CheckpointStore(settings.CheckpointDirectory!, plan.Training.KeepCheckpoints);
            var (runId, at, ep, st) = (settings.RunId, position.CompletedSteps, position.Epoch, position.Step);
            Task.Run(() =>
            {
                try
                {
                    var warnings = new List<string>();
                    var path = store.Write(runId, at, ep, st, collected, carryOverAbsent: true, warnings.Add);
                    return new SaveFinished(attempt, path, CheckpointStore.ReadManifest(path), [], null, warnings);
                }
                catch (Exception e)
                {
                    return new SaveFinished(attempt, null, null, [], $"checkpoint at step {at} in '{store.Directory}': {e.Message}");
                }
            }).PipeTo(Self);
        }
        else
        {
            var directory = settings.ExportDirectory!;
            Task.Run(() =>
            {
                try
                {
                    Directory.CreateDirectory(directory);
                    var written = new List<ExportedWeights>();
                    foreach (var (setup, _, bytes) in collected)
                    {
                        var path = Path.Combine(directory, setup.Id + ".dat");
                        AtomicFile.Write(path, tmp => File.WriteAllBytes(tmp, bytes));
                        written.Add(new ExportedWeights(setup, path));
                    }
                    return new SaveFinished(attempt, directory, null, written, null);
                }
                catch (Exception e)
                {
                    return new SaveFinished(attempt, null, null, [], $"export to '{directory}': {e.Message}");
                }
            }).PipeTo(Self);
        }
    }

    private void OnSaved(WritingState w, SaveFinished f)
    {
        if (f.Error is not null)
        {
            Fail($"could not write the {f.Error}; the last good checkpoint on disk is kept");
            return;
        }
        if (w.Kind == SaveKind.Checkpoint)
        {
            lastCheckpointStep = position.CompletedSteps;
            saved.Update(f.Path!, f.Manifest!);
            log.Info("Checkpoint at step {0}: {1} models in {2}", position.CompletedSteps, f.Manifest!.Models.Count, f.Path!);
            foreach (var warning in f.Warnings ?? []) log.Warning("Checkpoint at step {0}: {1}", position.CompletedSteps, warning);
        }
        else exports.AddRange(f.Exports);
        Continue(w.Then);
    }

    /// <summary>What follows a checkpoint or the export (or its skipping): declared by <see cref="AfterSave"/>.</summary>
    private void Continue(AfterSave then)
    {
        switch (then)
        {
            case AfterSave.NextStep:
                StartStep();
                break;
            case AfterSave.EndOfEpoch when schedule.IsOver(position):
                Finish();
                break;
            case AfterSave.EndOfEpoch when stopRequested:
                Stopped(); // the epoch's checkpoint was just written
                break;
            case AfterSave.EndOfEpoch:
                StartStep();
                break;
            case AfterSave.Stop:
                Stopped();
                break;
            case AfterSave.Complete:
                Complete();
                break;
        }
    }
}
