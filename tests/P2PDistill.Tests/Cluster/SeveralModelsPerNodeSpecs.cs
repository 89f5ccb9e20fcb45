using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// A cluster member may host several student model actors (the coordinator benchmark of issue 14 puts up to 32 in one
/// process): the coordinator, a teacher and one student node with three model actors, each its own actor system on a
/// loopback port. Every actor of the shared node gets its own slot and id and trains every step.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class SeveralModelsPerNodeSpecs
{
    [Fact]
    public async Task Should_give_every_model_actor_of_one_node_its_own_slot_and_train_them_all()
    {
        const int students = 3, steps = 6;
        var dataOptions = TestCohorts.SyntheticData(train: 256, test: 32);
        var data = TestCohorts.Load(dataOptions);
        var options = TestCohorts.Options(students: students, teacher: "constant", student: "constant") with { MaxStepsPerEpoch = steps };
        var plan = new TrainingPlan(options, dataOptions, data, Normalization.Identity(1), new OptimizerOptions());

        var recorder = new Recorder();
        var completion = new TaskCompletionSource<CohortResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var system = "shared" + Guid.NewGuid().ToString("N")[..6];
        var settings = new CoordinatorSettings(students, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));
        var hosts = new List<IHost>();
        try
        {
            var coordinator = await ClusterHosts.StartCoordinator(system, settings, plan, recorder, completion);
            hosts.Add(coordinator);
            var seed = coordinator.Address();
            hosts.Add(await ClusterHosts.Start(ClusterHosts.Node(system, seed), "teacher", akka =>
                akka.WithActors((sys, _) => sys.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Teacher, "constant", plan.Spec)), "model"))));
            var models = new List<IActorRef>();
            var shared = await ClusterHosts.Start(ClusterHosts.Node(system, seed), "student", akka =>
                akka.WithActors((sys, _) =>
                {
                    for (int i = 1; i <= students; i++)
                        models.Add(sys.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Student, "constant", plan.Spec)), $"model-{i}"));
                }));
            hosts.Add(shared);

            var result = await completion.Task.WaitAsync(TimeSpan.FromMinutes(3));
            Assert.True(result.Completed, result.StopReason);

            Assert.Equal(steps, recorder.Steps.Count);
            Assert.All(recorder.Steps, r => Assert.Equal(["student-1", "student-2", "student-3", "teacher"], r.Models.Select(m => m.Id).Order()));
            var ids = new List<string>();
            foreach (var model in models)
            {
                // The last step's update is applied when the model reads the end of the run, which may come after the result.
                var p = await model.Ask<ModelParameters>(GetParameters.Instance, TimeSpan.FromSeconds(30));
                for (var until = DateTime.UtcNow.AddSeconds(30); p.StepsApplied < steps && DateTime.UtcNow < until;)
                {
                    await Task.Delay(50);
                    p = await model.Ask<ModelParameters>(GetParameters.Instance, TimeSpan.FromSeconds(30));
                }
                Assert.Equal(steps, p.StepsApplied);
                ids.Add(p.ModelId);
            }
            Assert.Equal(["student-1", "student-2", "student-3"], ids.Order());
        }
        finally
        {
            foreach (var h in hosts.AsEnumerable().Reverse()) await h.StopAsync(TimeSpan.FromSeconds(10));
        }
    }
}
