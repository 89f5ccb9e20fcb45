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

    /// <summary>Exit code of a coordinator that found another coordinator already in its cluster: it does not train.</summary>
    public const int SecondCoordinatorExitCode = (int)ExitCode.BadInput;

    /// <summary>
    /// Cluster mode: the coordinator actor, created only once this node is up and only if no other coordinator is in the
    /// cluster (issue 10, item 4: a cluster has one coordinator). When one is — an older coordinator-role member, up, of
    /// another incarnation — this node does not start training: <see cref="CoordinatorRun.NotStarted"/> says why and the
    /// run service ends the program with <see cref="SecondCoordinatorExitCode"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddClusterCoordinator(this AkkaConfigurationBuilder akka, CoordinatorRun run) =>
        akka.WithActors((system, registry) =>
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            cluster.RegisterOnMemberUp(() =>
            {
                if (OtherCoordinator(cluster.State.Members, cluster.SelfMember) is { } other)
                {
                    run.NotStarted.TrySetResult(
                        $"another coordinator is already in this cluster: {other.Address} (uid {other.UniqueAddress.Uid}); a cluster has exactly one " +
                        "coordinator, so this one does not start training. Stop that coordinator first, or start this one without --seed-nodes " +
                        "(it then forms its own cluster) or with the seed nodes of another cluster");
                    return;
                }
                var coordinator = system.ActorOf(CoordinatorActor.Props(run.Plan, run.Settings, run.Observer, run.Completion), ModelActor.CoordinatorName);
                registry.Register<CoordinatorActor>(coordinator);
                run.Started.TrySetResult();
            });
        });

    /// <summary>
    /// The coordinator already in the cluster, if any: a coordinator-role member of another incarnation, up (or leaving) and
    /// older than <paramref name="self"/>, so that of two coordinators that come up together exactly one (the oldest) trains.
    /// </summary>
    public static Akka.Cluster.Member? OtherCoordinator(IEnumerable<Akka.Cluster.Member> members, Akka.Cluster.Member self) => members
        .Where(m => m.HasRole(ModelActor.CoordinatorRole) && !m.UniqueAddress.Equals(self.UniqueAddress)
                    && m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.Leaving && m.IsOlderThan(self))
        .OrderBy(m => m, Akka.Cluster.Member.AgeOrdering)
        .FirstOrDefault();

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
            .WithActors((_, _) => run.Started.TrySetResult())
            .WithActors((system, registry) =>
            {
                var coordinator = registry.Get<CoordinatorActor>();
                system.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Teacher, t.TeacherModel, run.Plan.Spec, coordinator, Logging: run.Logging, Threads: threads)), "teacher");
                for (int i = 1; i <= t.Students; i++)
                    system.ActorOf(ModelActor.Props(new ModelActorSettings(ModelRole.Student, t.StudentModelOf(i), run.Plan.Spec, coordinator, Logging: run.Logging, Threads: threads)), $"student-{i}");
            });
    }
}
