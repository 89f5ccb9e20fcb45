using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Models;
using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Support;

/// <summary>Small synthetic data and tiny models for fast training tests.</summary>
public static class TestCohorts
{
    public static DataOptions SyntheticData(int train = 512, int test = 128, int classes = 4) => new()
    {
        Dataset = "synthetic", SyntheticTrain = train, SyntheticTest = test, SyntheticClasses = classes, SyntheticSize = 28, Seed = 3,
    };

    public static DatasetSplits Load(DataOptions options) => DatasetFactory.Load(options);

    /// <summary>The plan of the smallest cohort the cluster specs run: synthetic 1x28x28 images, 4 classes, 64 to train, 16 to test.</summary>
    public static TrainingPlan SmallPlan()
    {
        var dataOptions = SyntheticData(train: 64, test: 16);
        return new TrainingPlan(Options(), dataOptions, Load(dataOptions), Normalization.Identity(1), new OptimizerOptions());
    }

    public static TrainingOptions Options(DistillMode mode = DistillMode.KdMl, int students = 2, string teacher = "tiny", string student = "tiny", int epochs = 1, int batch = 32) => new()
    {
        TeacherModel = teacher, StudentModel = student, Students = students, Epochs = epochs, BatchSize = batch, Mode = mode, Seed = 5,
    };

    public static TrainerSetup Setup(string model, ModelRole role, DatasetSplits data, long seed, DistillMode mode = DistillMode.KdMl, OptimizerKind optimizer = OptimizerKind.Adam) => new(
        role == ModelRole.Teacher ? "teacher" : "student",
        role,
        model,
        new ModelSpec(data.Shape.Channels, data.Shape.Height, data.Shape.Width, data.NumClasses),
        new OptimizerOptions { Name = optimizer, LearningRate = 1e-2 },
        new DistillationSettings(mode),
        Normalization.Identity(data.Shape.Channels),
        seed,
        StepsPerEpoch: 10,
        TotalSteps: 100);

    public static CohortTrainer Cohort(TrainingOptions options, DataOptions dataOptions, DatasetSplits data) =>
        new(options, dataOptions, data, Normalization.Identity(data.Shape.Channels), new OptimizerOptions { LearningRate = 1e-2 }, NullLogger.Instance);

    /// <summary>
    /// The embedded runner in one actor system with every message forced through its serializer: a coordinator for
    /// <paramref name="plan"/>, the first student, the teacher, then the other students (a student registering first on purpose).
    /// </summary>
    public static async Task<(CohortResult Result, Recorder Recorder)> RunEmbedded(TrainingPlan plan, string teacher, params string[] students)
    {
        var (result, recorder, _) = await RunEmbeddedWithWeights(plan, teacher, students);
        return (result, recorder);
    }

    /// <summary>
    /// <see cref="RunEmbedded"/>, and every model's parameters once the run has ended (asked after the coordinator told every
    /// model the run is over, so each has applied or dropped its held update), by model id.
    /// </summary>
    public static Task<(CohortResult Result, Recorder Recorder, IReadOnlyDictionary<string, ModelParameters> Weights)> RunEmbeddedWithWeights(
        TrainingPlan plan, string teacher, params string[] students) => RunEmbeddedWithWeights(plan, 0, teacher, students);

    /// <param name="teacherLookahead">The teacher's run-ahead (folded protocol, issue 14).</param>
    public static async Task<(CohortResult Result, Recorder Recorder, IReadOnlyDictionary<string, ModelParameters> Weights)> RunEmbeddedWithWeights(
        TrainingPlan plan, int teacherLookahead, string teacher, params string[] students)
    {
        var config = ConfigurationFactory.ParseString(NodeHocon.InProcess("WARNING", serializeMessages: true));
        using var system = ActorSystem.Create("embedded", ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config)));
        var recorder = new Recorder();
        var completion = new TaskCompletionSource<CohortResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var coordinator = system.ActorOf(CoordinatorActor.Props(plan,
            new CoordinatorSettings(students.Length, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), TeacherLookahead: teacherLookahead), recorder, completion), "coordinator");
        var models = new List<IActorRef>();
        void Model(ModelRole role, string model, string name) =>
            models.Add(system.ActorOf(ModelActor.Props(new ModelActorSettings(role, model, plan.Spec, coordinator)), name));
        Model(ModelRole.Student, students[0], "student-a");
        Model(ModelRole.Teacher, teacher, "teacher");
        for (int i = 1; i < students.Length; i++) Model(ModelRole.Student, students[i], $"student-{(char)('a' + i)}");
        var result = await completion.Task.WaitAsync(TimeSpan.FromMinutes(3));
        var weights = new Dictionary<string, ModelParameters>();
        foreach (var model in models)
        {
            var p = await model.Ask<ModelParameters>(GetParameters.Instance, TimeSpan.FromSeconds(30));
            weights.Add(p.ModelId, p);
        }
        await system.Terminate();
        return (result, recorder, weights);
    }
}
