using Akka.Actor;
using Akka.Hosting;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Actors;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Training;
using TorchSharp;

namespace P2PDistill.Coordinator.Hosting;

public static class CoordinatorHosting
{
    /// <summary>The coordinator actor, at /user/coordinator where model actors look for it.</summary>
    public static AkkaConfigurationBuilder AddCoordinator(this AkkaConfigurationBuilder akka, CoordinatorRun run) =>
        akka.WithActors((system, registry) =>
        {
            var coordinator = system.ActorOf(CoordinatorActor.Props(run.Plan, run.Settings, run.Observer, run.Completion), ModelActor.CoordinatorName);
            registry.Register<CoordinatorActor>(coordinator);
        });

    /// <summary>Embedded mode: the coordinator, the teacher and every student in this one actor system, no network.</summary>
    public static AkkaConfigurationBuilder AddEmbeddedCohort(this AkkaConfigurationBuilder akka, CoordinatorRun run)
    {
        var t = run.Plan.Training;
        int models = t.Students + 1;
        int threads = t.Threads > 0 ? t.Threads : Math.Max(1, Environment.ProcessorCount / models);
        torch.set_num_threads(threads);
        return akka
            .ConfigureWireFormat()
            .ConfigureLoggers(l => l.AddLoggerFactory())
            .AddCoordinator(run)
            .WithActors((system, registry) =>
            {
                var coordinator = registry.Get<CoordinatorActor>();
                system.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Teacher, t.TeacherModel, run.Plan.Spec, coordinator, Logging: run.Logging, Threads: threads)), "teacher");
                for (int i = 1; i <= t.Students; i++)
                    system.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Student, t.StudentModel, run.Plan.Spec, coordinator, Logging: run.Logging, Threads: threads)), $"student-{i}");
            });
    }
}
