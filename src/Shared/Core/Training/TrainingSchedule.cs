namespace P2PDistill.Shared.Training;

/// <summary>Where a run is: the next step to train is (<see cref="Epoch"/>, <see cref="Step"/>); <see cref="CompletedSteps"/> are done.</summary>
public readonly record struct RunPosition(int Epoch, int Step, long CompletedSteps)
{
    public static RunPosition Start { get; } = new(0, 0, 0);
}

/// <summary>What follows a completed step, in the order a runner does it.</summary>
/// <param name="Next">The position after the step.</param>
/// <param name="Checkpoint">Write a checkpoint at <paramref name="Next"/> (mid-epoch <c>--checkpoint-every</c>, or the end of an epoch).</param>
/// <param name="EndedEpoch">The epoch the step ended (0-based), or null mid-epoch.</param>
/// <param name="Evaluate">Evaluate every model before that checkpoint (the end of an epoch, every <c>--eval-every</c> and the last).</param>
/// <param name="Finished">That was the run's last step: after the evaluation and the checkpoint, export and end.</param>
public readonly record struct AfterStep(RunPosition Next, bool Checkpoint, int? EndedEpoch, bool Evaluate, bool Finished);

/// <summary>
/// The one epoch schedule of every runner (single-process, embedded, cluster, experiment): when an epoch ends, when to
/// evaluate, when to checkpoint, when the run is over. The runners only say how a step, an evaluation and a checkpoint
/// are executed.
/// </summary>
public sealed class TrainingSchedule(int stepsPerEpoch, int epochs, int evalEveryEpochs, int checkpointEverySteps)
{
    public TrainingSchedule(TrainingPlan plan)
        : this(plan.StepsPerEpoch, plan.Training.Epochs, plan.Training.EvalEveryEpochs, plan.Training.CheckpointEverySteps)
    {
    }

    public int StepsPerEpoch { get; } = stepsPerEpoch;
    public int Epochs { get; } = epochs;

    /// <summary>Whether every step of the run is done.</summary>
    public bool IsOver(RunPosition at) => at.Epoch >= Epochs;

    public AfterStep After(RunPosition at)
    {
        long completed = at.CompletedSteps + 1;
        if (at.Step + 1 < StepsPerEpoch)
        {
            var next = at with { Step = at.Step + 1, CompletedSteps = completed };
            return new AfterStep(next, checkpointEverySteps > 0 && completed % checkpointEverySteps == 0, null, false, false);
        }
        var nextEpoch = new RunPosition(at.Epoch + 1, 0, completed);
        bool last = nextEpoch.Epoch >= Epochs;
        bool evaluate = last || (at.Epoch + 1) % Math.Max(1, evalEveryEpochs) == 0;
        return new AfterStep(nextEpoch, Checkpoint: true, at.Epoch, evaluate, last);
    }
}
