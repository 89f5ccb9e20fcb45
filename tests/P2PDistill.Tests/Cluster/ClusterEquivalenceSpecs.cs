using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// The proof that the distributed runtime computes the paper's method: coordinator, teacher and two students
/// as separate actor systems on loopback ports, against the single-process cohort trainer, same seeds.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class ClusterEquivalenceSpecs
{

    [Theory]
    [InlineData(StepProtocol.Folded, 0)] // the default: the teacher's fast path and the one-round-trip fold (issue 14)
    [InlineData(StepProtocol.Folded, 3)] // and the teacher up to 3 steps ahead, over two epochs (an evaluation between)
    [InlineData(StepProtocol.Classic, 0)]
    public async Task Should_give_the_single_process_losses_and_weights_after_20_steps(StepProtocol protocol, int teacherLookahead)
    {
        var dataOptions = TestCohorts.SyntheticData(train: 1024, test: 64);
        var data = TestCohorts.Load(dataOptions);
        var options = teacherLookahead == 0
            ? TestCohorts.Options(epochs: 1, teacher: "cnn-teacher", student: "cnn-student") with { MaxStepsPerEpoch = 20 }
            : TestCohorts.Options(epochs: 2, teacher: "cnn-teacher", student: "cnn-student") with { MaxStepsPerEpoch = 10 };
        var plan = new TrainingPlan(options, dataOptions, data, Normalization.Identity(1), new OptimizerOptions { LearningRate = 1e-3 });

        var reference = new Recorder();
        Dictionary<string, float[]> referenceWeights;
        using (var cohort = new CohortTrainer(plan, NullLogger.Instance))
        {
            cohort.Run(reference);
            referenceWeights = cohort.Trainers.ToDictionary(t => t.Id, t => t.FlatParameters());
        }

        var recorder = new Recorder();
        var completion = new TaskCompletionSource<CohortResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var system = "equivalence" + Guid.NewGuid().ToString("N")[..6];
        var settings = new CoordinatorSettings(2, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), Protocol: protocol, TeacherLookahead: teacherLookahead);
        var hosts = new List<IHost>();
        try
        {
            var coordinator = await ClusterHosts.StartCoordinator(system, settings, plan, recorder, completion);
            hosts.Add(coordinator);
            var seed = coordinator.Address();
            var models = new List<IActorRef>();
            foreach (var (role, model) in new[] { (ModelRole.Teacher, "cnn-teacher"), (ModelRole.Student, "cnn-student"), (ModelRole.Student, "cnn-student") })
            {
                var name = role == ModelRole.Teacher ? "teacher" : "student";
                var host = await ClusterHosts.Start(ClusterHosts.Node(system, seed), name, akka =>
                    akka.WithActors((sys, _) => models.Add(sys.ActorOf(ModelActor.Props(new ModelActorSettings(role, model, plan.Spec)), "model"))));
                hosts.Add(host);
            }

            var result = await completion.Task.WaitAsync(TimeSpan.FromMinutes(3));
            Assert.True(result.Completed, result.StopReason);

            Assert.Equal(20, recorder.Steps.Count);
            reference.AssertSameLosses(recorder);
            Assert.All(recorder.Steps, r => Assert.True(r.BytesSent > 0));

            foreach (var model in models)
            {
                var p = await model.Ask<ModelParameters>(GetParameters.Instance, TimeSpan.FromSeconds(30));
                Assert.Equal(20, p.StepsApplied);
                var expected = referenceWeights[p.ModelId];
                Assert.Equal(expected.Length, p.Values.Length);
                var worst = expected.Zip(p.Values).Max(x => Math.Abs(x.First - x.Second));
                Assert.True(worst <= 1e-5, $"{p.ModelId}: largest weight difference {worst}");
            }
        }
        finally
        {
            foreach (var h in hosts.AsEnumerable().Reverse()) await h.StopAsync(TimeSpan.FromSeconds(10));
        }
    }
}
