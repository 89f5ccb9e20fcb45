using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Training;

/// <summary>The one epoch schedule every runner follows: steps, epoch ends, evaluations, checkpoints, the end.</summary>
[Trait("Category", "Unit")]
public sealed class TrainingScheduleSpecs
{
    /// <summary>Walks a whole run and writes what happens after each step: "s" a plain step, "c" a checkpoint, "E" an evaluation, "." an epoch end, "!" the end.</summary>
    private static string Walk(TrainingSchedule schedule)
    {
        var events = new System.Text.StringBuilder();
        var at = RunPosition.Start;
        while (!schedule.IsOver(at))
        {
            var after = schedule.After(at);
            Assert.Equal(at.CompletedSteps + 1, after.Next.CompletedSteps);
            events.Append(after.EndedEpoch is null ? "s" : ".");
            if (after.Evaluate) events.Append('E');
            if (after.Checkpoint) events.Append('c');
            if (after.Finished) events.Append('!');
            at = after.Next;
        }
        return events.ToString();
    }

    [Fact]
    public void Should_evaluate_and_checkpoint_at_every_epoch_end_and_finish_after_the_last()
    {
        Assert.Equal("ss.Ec" + "ss.Ec!", Walk(new TrainingSchedule(3, 2, 1, 0)));
    }

    [Fact]
    public void Should_evaluate_every_n_epochs_and_always_after_the_last()
    {
        Assert.Equal("s.c" + "s.Ec" + "s.c" + "s.Ec!", Walk(new TrainingSchedule(2, 4, 2, 0)));
        Assert.Equal("s.c" + "s.c" + "s.Ec!", Walk(new TrainingSchedule(2, 3, 5, 0)));
    }

    [Fact]
    public void Should_checkpoint_every_n_steps_counted_over_the_whole_run()
    {
        // Steps 2 and 4 are checkpointed mid-epoch; steps 3 and 6 end an epoch, which is checkpointed anyway.
        Assert.Equal("s" + "sc" + ".Ec" + "sc" + "s" + ".Ec!", Walk(new TrainingSchedule(3, 2, 1, 2)));
    }

    [Fact]
    public void Should_continue_a_resumed_run_from_its_position()
    {
        var schedule = new TrainingSchedule(4, 2, 1, 0);
        var after = schedule.After(new RunPosition(1, 2, 6));

        Assert.Equal(new RunPosition(1, 3, 7), after.Next);
        Assert.False(after.Checkpoint);
        var last = schedule.After(after.Next);
        Assert.Equal(new RunPosition(2, 0, 8), last.Next);
        Assert.Equal(1, last.EndedEpoch);
        Assert.True(last.Finished);
        Assert.True(schedule.IsOver(last.Next));
    }
}
