using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Coordinator;

/// <summary>
/// The coordinator's saved states (<see cref="SavedStates"/>) against the checkpoint store's prune. A model that registers while
/// a checkpoint is written has its saved state read off the mailbox from the files of the previous checkpoint, which the prune
/// of the new one may just have deleted (--keep-checkpoints 1): the coordinator learns of the new checkpoint only after the
/// write. Driven here in that order, without actors and without timing.
/// </summary>
[Trait("Category", "Fault")]
public sealed class SavedStatesSpecs : IDisposable
{
    private readonly TempDirectory dir = new();
    private readonly DatasetSplits data = TestCohorts.Load(TestCohorts.SyntheticData(train: 64, test: 16));

    public void Dispose() => dir.Dispose();

    private (TrainerSetup, int, byte[]) Teacher(byte fill) => (TestCohorts.Setup("tiny", ModelRole.Teacher, data, 1), 0, Enumerable.Repeat(fill, 100).ToArray());

    private (TrainerSetup, int, byte[]) Student(byte fill) =>
        (TestCohorts.Setup("tiny", ModelRole.Student, data, 2) with { Id = "student-1" }, 1, Enumerable.Repeat(fill, 50).ToArray());

    /// <summary>
    /// Review of issue 16: student-1 left after the checkpoint at step 10; it registers again while the one at step 20 is
    /// written (carrying its state over) and pruned step 10. Its state was read from step 10's deleted file: "could not read
    /// the saved state: it starts from fresh weights". It comes from the checkpoint that replaced it.
    /// </summary>
    [Fact]
    public void Should_read_a_saved_state_whose_checkpoint_was_pruned_by_the_write_in_flight_from_the_newer_checkpoint()
    {
        var store = new CheckpointStore(dir.Path, keep: 1);
        var saved = SavedStates.From(null);
        var first = store.Write("run", 10, 1, 0, [Teacher(1), Student(2)], carryOverAbsent: true);
        saved.Update(first, CheckpointStore.ReadManifest(first));

        // The registration took the reference before the write of step 20; the write (and its prune) ends before the read.
        var reference = saved.For("student-1")!;
        store.Write("run", 20, 2, 0, [Teacher(3)], carryOverAbsent: true);
        Assert.False(Directory.Exists(first));

        var (state, step) = reference.Load();

        Assert.Equal(Enumerable.Repeat((byte)2, 50), state);
        Assert.Equal(10, step); // carried over: still the state of step 10
    }

    /// <summary>The same, the model having been saved again in the new checkpoint (it left after the states were collected): the newer state.</summary>
    [Fact]
    public void Should_read_the_newer_state_when_the_write_in_flight_saved_the_model_again()
    {
        var store = new CheckpointStore(dir.Path, keep: 1);
        var saved = SavedStates.From(null);
        var first = store.Write("run", 10, 1, 0, [Teacher(1), Student(2)], carryOverAbsent: true);
        saved.Update(first, CheckpointStore.ReadManifest(first));
        var reference = saved.For("student-1")!;
        store.Write("run", 20, 2, 0, [Teacher(3), Student(4)], carryOverAbsent: true);

        var (state, step) = reference.Load();

        Assert.Equal(Enumerable.Repeat((byte)4, 50), state);
        Assert.Equal(20, step);
    }

    /// <summary>A state gone with no checkpoint left that holds it is an error naming the file, never a silent fresh start.</summary>
    [Fact]
    public void Should_say_which_file_is_gone_when_no_checkpoint_holds_the_state_any_more()
    {
        var store = new CheckpointStore(dir.Path, keep: 1);
        var saved = SavedStates.From(null);
        var first = store.Write("run", 10, 1, 0, [Teacher(1), Student(2)], carryOverAbsent: true);
        saved.Update(first, CheckpointStore.ReadManifest(first));
        var reference = saved.For("student-1")!;
        store.Write("run", 20, 2, 0, [Teacher(3)]); // no carry-over: student-1 is in no checkpoint any more

        var e = Assert.Throws<FileNotFoundException>(() => reference.Load());

        Assert.Contains(Path.Combine(first, "student-1.state"), e.Message);
        Assert.Contains("no checkpoint", e.Message);
    }
}
