using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Data;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Coordinator;

/// <summary>
/// Issue 16 §9: the outputs of a run interrupted after a checkpoint and resumed are those of a run that never stopped. One real
/// training (the single-process loop, tiny models, PneumoniaMNIST with its validation split) is recorded, then replayed into run
/// sessions: once without a stop, and once cut off steps after a checkpoint (the session dropped as a kill drops it, the event
/// file's last record torn), then resumed from the checkpoint with <see cref="RunSession.Resume"/>, as the coordinator does.
/// </summary>
[Trait("Category", "Fault")]
public sealed class ResumeOutputsSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly Lazy<(TrainingPlan Plan, Recorder Recorder, CohortResult Result)> Training = new(() =>
    {
        var data = new DataOptions { Dataset = "pneumoniamnist", TrainLimit = 192, TestLimit = 48 };
        var plan = new TrainingPlan(TestCohorts.Options(epochs: 5), data, DatasetFactory.Load(data), Normalization.Identity(1),
            new OptimizerOptions { LearningRate = 5e-2 }); // a high rate: val peaks before the last epochs, so the best epoch is before the checkpoint
        var recorder = new Recorder();
        using var trainer = new CohortTrainer(plan, NullLogger.Instance);
        var result = trainer.Run(recorder);
        Assert.True(result.Completed, result.StopReason);
        return (plan, recorder, result with { Exports = [] }); // no models to export: the test is about the run's reports

    });

    [Fact]
    public void Should_report_every_epoch_and_each_tensorboard_step_once_after_a_resume_as_a_run_that_never_stopped()
    {
        var (plan, recorder, result) = Training.Value;
        int perEpoch = plan.StepsPerEpoch;
        // The checkpoint: the end of the epoch best on val, so that the summary's best epoch is one the resumed part never saw.
        var best = result.BestOnVal!;
        long checkpoint = best.GlobalStep;
        long killedAfter = checkpoint + perEpoch + 2; // past the next evaluation and two more steps: all written, none checkpointed
        Assert.True(killedAfter < result.Steps, $"the best epoch on val ({best.Epoch + 1}) leaves no room for a kill before the end");

        var (reference, referenceCurves) = Finished(Path.Combine(dir.Path, "reference"), s => Replay(s, recorder, 0, long.MaxValue), result, resumeFrom: null);

        var crashed = Path.Combine(dir.Path, "resumed");
        using (var first = RunSession.Create(RunKind.Embedded, plan, NullLogger.Instance, crashed, "run")) Replay(first, recorder, 0, killedAfter);
        var events = EventFiles(Path.Combine(crashed, "run"));
        Assert.Contains(Read(events.Single()), e => e.Step > checkpoint); // the kill came after the checkpoint had been followed
        File.AppendAllBytes(events.Single(), [0x2a, 0, 0, 0, 0, 0, 0]); // and tore the record it was writing
        // What the coordinator's result holds after a resume: the evaluations it made itself.
        var resumedResult = result with { Evaluations = [.. result.Evaluations.Where(e => e.GlobalStep > checkpoint)] };
        var (resumed, resumedCurves) = Finished(crashed, s => Replay(s, recorder, checkpoint, long.MaxValue), resumedResult, resumeFrom: checkpoint);

        // TensorBoard: every file reads to its end, each (tag, step) once, and the steps are those of the run that never stopped.
        var expected = Scalars(reference);
        var actual = Scalars(resumed);
        Assert.Empty(actual.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key));
        Assert.Equal(expected.Order(), actual.Order());

        // Learning curves: every step and every epoch from the first, the same values.
        Assert.Equal(referenceCurves.Losses.Keys.Order(), resumedCurves.Losses.Keys.Order());
        foreach (var (id, points) in referenceCurves.Losses) Assert.Equal(points, resumedCurves.Losses[id]);
        Assert.Equal(referenceCurves.Headlines.Keys.Order(), resumedCurves.Headlines.Keys.Order());
        foreach (var (id, points) in referenceCurves.Headlines)
        {
            Assert.Equal(Enumerable.Range(1, plan.Training.Epochs).Select(e => (double)e), resumedCurves.Headlines[id].Select(p => p.Epoch));
            Assert.Equal(points, resumedCurves.Headlines[id]);
        }
        foreach (var png in new[] { "loss.png", "accuracy.png" }) Assert.True(File.Exists(Path.Combine(resumed, "plots", png)), png);

        // summary.md: the same final and best-on-val tables; only the line on time and throughput says the run was resumed.
        var summary = Summary(resumed);
        Assert.Contains($"Best epoch on the validation split: {best.Epoch + 1} ", summary);
        Assert.Equal(Without(Summary(reference), "- "), Without(summary, "- "));
        Assert.Contains($"resumed after step {checkpoint}", summary);
    }

    /// <summary>
    /// Review of issue 16: a resumed run that makes no evaluation of its own (a finished run resumed, or one stopped before its
    /// next evaluation) wrote "no evaluation was made": the history's metrics took their layout from the resumed part's first
    /// evaluation. The summary is the whole run's, from eval.csv, as if it had never stopped.
    /// </summary>
    [Fact]
    public void Should_report_the_whole_run_when_a_finished_run_is_resumed_and_evaluates_nothing_more()
    {
        var (plan, recorder, result) = Training.Value;
        var (reference, _) = Finished(Path.Combine(dir.Path, "reference"), s => Replay(s, recorder, 0, long.MaxValue), result, resumeFrom: null);
        var finished = Path.Combine(dir.Path, "finished");
        using (var first = RunSession.Create(RunKind.Embedded, plan, NullLogger.Instance, finished, "run")) Replay(first, recorder, 0, long.MaxValue);

        // The coordinator resumed at the final checkpoint: nothing left to train, no evaluation, the same step count.
        var (resumed, _) = Finished(finished, _ => { }, result with { Evaluations = [] }, resumeFrom: result.Steps);

        var summary = Summary(resumed);
        Assert.DoesNotContain("no evaluation was made", summary);
        Assert.Contains($"Test metrics after epoch {plan.Training.Epochs}:", summary);
        Assert.Equal(Without(Summary(reference), "- "), Without(summary, "- "));
    }

    /// <summary>A session in <paramref name="parent"/>/run (a new one, or the interrupted one resumed), fed, then finished.</summary>
    private static (string Run, CurvesSnapshot Curves) Finished(string parent, Action<RunSession> feed, CohortResult result, long? resumeFrom)
    {
        var (plan, _, _) = Training.Value;
        using var session = resumeFrom is { } step
            ? RunSession.Resume(RunKind.Embedded, plan, Path.Combine(parent, "run"), step, NullLogger.Instance)
            : RunSession.Create(RunKind.Embedded, plan, NullLogger.Instance, parent, "run");
        feed(session);
        Assert.Equal(Shared.Hosting.ExitCode.Completed, session.Finish(result, stoppedOnRequest: false, resumable: true));
        return (session.Run.Path, new CurvesSnapshot(session.Curves!.Losses, session.Curves.Headlines));
    }

    private sealed record CurvesSnapshot(
        IReadOnlyDictionary<string, IReadOnlyList<(double Step, double Loss)>> Losses,
        IReadOnlyDictionary<string, IReadOnlyList<(double Epoch, double Value)>> Headlines);

    /// <summary>Feeds the recorded steps and evaluations after <paramref name="from"/> up to <paramref name="through"/>, in training order.</summary>
    private static void Replay(RunSession session, Recorder recorder, long from, long through)
    {
        var evaluations = recorder.Evaluations.Where(e => e.GlobalStep > from && e.GlobalStep <= through).ToList();
        foreach (var step in recorder.Steps.Where(s => s.GlobalStep > from && s.GlobalStep <= through))
        {
            session.Observer.OnStep(step);
            foreach (var e in evaluations.Where(e => e.GlobalStep == step.GlobalStep)) session.Observer.OnEvaluation(e);
        }
    }

    private static string Summary(string run) => File.ReadAllText(Path.Combine(run, "summary.md"));

    private static string Without(string text, string prefix) =>
        string.Join('\n', text.Split('\n').Where(l => !(l.StartsWith(prefix, StringComparison.Ordinal) && l.Contains(" steps of batch ", StringComparison.Ordinal))));

    private static string[] EventFiles(string run) =>
        Directory.GetFiles(Path.Combine(run, "tensorboard"), "*tfevents*", SearchOption.AllDirectories);

    /// <summary>Every scalar of every event file of <paramref name="run"/> as "tag@step", as a TensorBoard reader merges them.</summary>
    private static List<string> Scalars(string run) =>
        [.. EventFiles(run).SelectMany(Read).Where(e => e.Summary is not null).SelectMany(e => e.Summary.Value.Select(v => $"{v.Tag}@{e.Step}"))];

    /// <summary>
    /// The events of a TFRecord file, each record checked: a little-endian 64-bit length and its masked CRC-32C, the Event
    /// proto and its masked CRC-32C. A torn or corrupt record fails the test.
    /// </summary>
    private static List<Tensorboard.Event> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<Tensorboard.Event>();
        for (int at = 0; at < bytes.Length;)
        {
            Assert.True(bytes.Length - at >= 16, $"{path}: a torn record at byte {at}");
            long length = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(Masked(bytes.AsSpan(at, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            Assert.True(length >= 0 && length <= bytes.Length - at - 16, $"{path}: record at byte {at} claims {length} bytes");
            var data = bytes.AsSpan(at + 12, (int)length);
            Assert.Equal(Masked(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            events.Add(Tensorboard.Event.Parser.ParseFrom(bytes, at + 12, (int)length)); // the byte[] overload: TorchSharp's generated code parses no spans
            at += 16 + (int)length;
        }
        return events;
    }

    private static readonly uint[] Crc32CTable = [.. Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        return c;
    })];

    private static uint Masked(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = Crc32CTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        crc = ~crc;
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }
}
