using P2PDistill.Shared.Losses;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Coordinator;

/// <summary>A test probe standing in for a model actor, with the id the coordinator gave it.</summary>
public sealed record ProbeModel(TestProbe Probe, string Id, ModelRole Role, RegistrationAccepted Accepted)
{
    public IActorRef Ref => Probe.Ref;
}

/// <summary>
/// The coordinator actor alone, with <see cref="TestProbe"/>s for the models: fast and deterministic specs of its protocol.
/// Synthetic data of 64 training and 16 test images, batch 32: two steps per epoch, one evaluation batch. Timeouts are long
/// and are injected (<see cref="Timeout"/>) rather than waited for, so no spec depends on the machine's speed.
/// </summary>
public abstract class CoordinatorHarness : TestKit, IDisposable
{
    protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    protected const int Classes = 4;

    private readonly List<string> temporary = [];

    protected CoordinatorHarness(ITestOutputHelper output) : this(output, "")
    {
    }

    /// <param name="config">More HOCON for the test's actor system (a remoting frame, say).</param>
    protected CoordinatorHarness(ITestOutputHelper output, string config)
        : base("akka.loglevel = WARNING\nakka.test.single-expect-default = 20s\n" + config, output: output)
    {
    }

    protected Recorder Recorder { get; } = new();
    protected TaskCompletionSource<CohortResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    protected IActorRef Coordinator { get; private set; } = null!;
    protected TrainingPlan Plan { get; private set; } = null!;

    protected static TrainingOptions Options(int epochs = 1, int checkpointEvery = 0, string student = "tiny", int batch = 32) => new()
    {
        TeacherModel = "tiny", StudentModel = student, Students = 2, Epochs = epochs, BatchSize = batch, Mode = DistillMode.KdMl, Seed = 5,
        CheckpointEverySteps = checkpointEvery, KeepCheckpoints = 5,
    };

    protected string TempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "p2pd-coord-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        temporary.Add(dir);
        return dir;
    }

    /// <summary>Starts the coordinator. Checkpoints and exports go to a temporary folder unless <paramref name="checkpoints"/> is false.</summary>
    protected IActorRef Start(TrainingOptions? options = null, int minStudents = 2, TeacherLostPolicy teacherLost = TeacherLostPolicy.Wait,
        bool checkpoints = true, ResumePoint? resume = null, ITrainingObserver? observer = null, string? checkpointDirectory = null, TimeSpan? frozenAfter = null,
        StepProtocol protocol = StepProtocol.Classic, int teacherLookahead = 0)
    {
        var data = TestCohorts.SyntheticData(train: 64, test: 16, classes: Classes);
        Plan = new TrainingPlan(options ?? Options(), data, TestCohorts.Load(data), Normalization.Identity(1), new OptimizerOptions());
        var run = checkpoints ? TempDirectory() : null;
        var settings = new CoordinatorSettings(minStudents, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10), teacherLost,
            ExportDirectory: run is null ? null : Path.Combine(run, "models"),
            CheckpointDirectory: checkpointDirectory ?? (run is null ? null : Path.Combine(run, "checkpoints")), RunId: "spec", Resume: resume,
            FrozenAfter: frozenAfter, Protocol: protocol, TeacherLookahead: teacherLookahead);
        Coordinator = Sys.ActorOf(CoordinatorActor.Props(Plan, settings, observer ?? Recorder, Completion), "coordinator");
        return Coordinator;
    }

    protected string CheckpointDirectory => Path.Combine(temporary[0], "checkpoints");
    protected string ExportDirectory => Path.Combine(temporary[0], "models");

    /// <summary>A probe registers; returns it accepted (and, with <paramref name="ready"/>, ready: it joins at the next step boundary).</summary>
    protected ProbeModel Join(ModelRole role, string model = "tiny", bool ready = true)
    {
        var probe = CreateTestProbe();
        probe.Send(Coordinator, new RegisterModel("akka.tcp://p2pdistill@127.0.0.1:1", role, model, 1, 28, 28, Classes, WireLimits.Of(Sys).FrameBytes));
        var accepted = probe.ExpectMsg<RegistrationAccepted>(Wait);
        var m = new ProbeModel(probe, accepted.Setup.Id, role, accepted);
        if (accepted.RestoreChunks > 0)
            for (int i = 0; i < accepted.RestoreChunks; i++) probe.ExpectMsg<RestoreChunk>(Wait);
        if (ready) Ready(m);
        return m;
    }

    protected void Ready(ProbeModel m) => m.Probe.Send(Coordinator, new ModelReady(m.Id, 100));

    protected TrainStep ExpectStep(ProbeModel m) => m.Probe.ExpectMsg<TrainStep>(Wait);

    protected void Logits(ProbeModel m, TrainStep t, float value = 0, long? attempt = null) =>
        m.Probe.Send(Coordinator, new StepLogits(t.GlobalStep, m.Id, t.Batch.Count, Classes, Enumerable.Repeat(value, t.Batch.Count * Classes).ToArray(), 1,
            attempt ?? t.Attempt));

    protected ApplyTargets ExpectTargets(ProbeModel m) => m.Probe.ExpectMsg<ApplyTargets>(Wait);

    protected void Done(ProbeModel m, ApplyTargets a, bool applied = true) =>
        m.Probe.Send(Coordinator, new StepDone(a.GlobalStep, m.Id, 1, 1, 0, 0, 0.5, 1e-3, applied, 1, a.Attempt));

    /// <summary>The first half of a step: every model gets the batch and answers its logits; returns the batches and the targets each got.</summary>
    protected (List<TrainStep> Steps, List<ApplyTargets> Targets) GatherLogits(params ProbeModel[] models)
    {
        var steps = models.Select(ExpectStep).ToList();
        for (int i = 0; i < models.Length; i++) Logits(models[i], steps[i]);
        return (steps, models.Select(ExpectTargets).ToList());
    }

    /// <summary>One whole step: every model gets the batch, answers its logits, gets its targets and answers done.</summary>
    protected long RunStep(params ProbeModel[] models)
    {
        var (steps, targets) = GatherLogits(models);
        for (int i = 0; i < models.Length; i++) Done(models[i], targets[i]);
        return steps[0].GlobalStep;
    }

    // ---------------------------------------------------------------- the folded protocol (issue 14)

    /// <summary>The teacher's fast path: it gets the batch of a whole step.</summary>
    protected TrainStep ExpectWholeStep(ProbeModel teacher)
    {
        var step = ExpectStep(teacher);
        Assert.True(step.WholeStep, $"the teacher's request for step {step.GlobalStep} is not a whole step");
        return step;
    }

    /// <summary>The teacher trains the whole step: its logits, then its step-done, for the same request.</summary>
    protected void TeacherStep(ProbeModel teacher, TrainStep step)
    {
        Logits(teacher, step);
        teacher.Probe.Send(Coordinator, new StepDone(step.GlobalStep, teacher.Id, 1, 1, 0, 0, 0.5, 1e-3, true, 1, step.Attempt));
    }

    /// <summary>The first half of a step that starts at a boundary: the teacher's whole step and each student's batch, answered.</summary>
    protected void AnswerStep(ProbeModel teacher, params ProbeModel[] students)
    {
        TeacherStep(teacher, ExpectWholeStep(teacher));
        foreach (var student in students)
        {
            var batch = ExpectStep(student);
            Assert.False(batch.WholeStep, "a student's request is the first half of its step");
            Logits(student, batch);
        }
    }

    protected ApplyAndTrain ExpectFold(ProbeModel student) => student.Probe.ExpectMsg<ApplyAndTrain>(Wait);

    /// <summary>A student answers a fold: step-done for the step applied, then the logits of the next step.</summary>
    protected TrainStep AnswerFold(ProbeModel student, ApplyAndTrain fold)
    {
        Done(student, fold.Apply);
        var next = Assert.IsType<TrainStep>(fold.Next);
        Logits(student, next);
        return next;
    }

    protected EvaluateBatch ExpectEvaluation(ProbeModel m) => m.Probe.ExpectMsg<EvaluateBatch>(Wait);

    protected void Probabilities(ProbeModel m, EvaluateBatch e) =>
        m.Probe.Send(Coordinator, new EvalProbabilities(e.EvalId, e.Index, m.Id, e.Batch.Count, Classes, Enumerable.Repeat(1f / Classes, e.Batch.Count * Classes).ToArray()));

    protected void Evaluate(params ProbeModel[] models)
    {
        var requests = models.Select(ExpectEvaluation).ToList();
        for (int i = 0; i < models.Length; i++) Probabilities(models[i], requests[i]);
    }

    protected ExportWeights ExpectCollect(ProbeModel m) => m.Probe.ExpectMsg<ExportWeights>(Wait);

    protected void State(ProbeModel m, ExportWeights e, byte fill = 7) =>
        m.Probe.Send(Coordinator, new WeightsChunk(e.ExportId, m.Id, 0, 1, Enumerable.Repeat(fill, 64).ToArray()));

    protected void Collect(params ProbeModel[] models)
    {
        var requests = models.Select(ExpectCollect).ToList();
        for (int i = 0; i < models.Length; i++) State(models[i], requests[i]);
    }

    /// <summary>The state's deadline passes now (the coordinator's timer, injected).</summary>
    protected void Timeout(long attempt) => Coordinator.Tell(new PhaseTimeout(attempt));

    protected CohortResult Result() => Completion.Task.Wait(Wait) ? Completion.Task.Result : throw new TimeoutException("the run did not end");

    protected void Kill(ProbeModel m) => Sys.Stop(m.Ref);

    protected IReadOnlyList<long> RecordedSteps => Recorder.Steps.Select(s => s.GlobalStep).ToList();

    protected static IReadOnlyList<string> Checkpoints(string directory) =>
        Directory.Exists(directory) ? Directory.GetDirectories(directory).Select(d => Path.GetFileName(d)).Order().ToList() : [];

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        foreach (var dir in temporary)
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
