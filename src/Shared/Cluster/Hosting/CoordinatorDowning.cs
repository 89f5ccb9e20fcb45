using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Event;
using P2PDistill.Shared.Actors;

namespace P2PDistill.Shared.Hosting;

/// <summary>
/// The cluster's downing provider (<c>akka.cluster.downing-provider-class</c>): <b>the coordinator decides</b>. Training is a
/// star (every model talks to the coordinator only), so the coordinator's own view is the one that matters:
/// <list type="bullet">
/// <item>the coordinator downs every member that has stayed unreachable for <see cref="DownAfterPath"/>; it never downs itself;</item>
/// <item>a model's node downs itself once its own failure detector has lost the coordinator for as long; it never downs
/// another node.</item>
/// </list>
/// Akka's split-brain resolvers decide on the whole reachability graph instead. When only the link between the
/// coordinator and one model fails, they take both ends for "indirectly connected" and down both, the coordinator too,
/// which ends the run; under reachability that keeps changing (<c>down-all-when-unstable</c>) they down every node.
/// Neither can happen here: a partition keeps the coordinator's side (as keep-oldest on the coordinator's role did), a
/// failed link loses only the model at its far end, and a member whose reachability keeps changing is never downed for it.
/// docs/architecture.md, "Failure detection and split brain", has the trade-off.
/// </summary>
public sealed class CoordinatorDowningProvider : IDowningProvider
{
    /// <summary>The HOCON path of how long a member stays unreachable before it is downed (<c>--down-after</c>).</summary>
    public const string DownAfterPath = "p2pdistill.cluster.down-after";

    /// <summary>The HOCON that makes this the cluster's downing provider.</summary>
    public static string Hocon(int downAfterSeconds) => string.Join("\n",
        $"akka.cluster.downing-provider-class = \"{typeof(CoordinatorDowningProvider).FullName}, {typeof(CoordinatorDowningProvider).Assembly.GetName().Name}\"",
        $"{DownAfterPath} = {downAfterSeconds}s",
        // Every node's own failure detector watches every other node (Akka watches 9 of them by default), so that a model's
        // node in a cluster of more than 10 sees for itself whether the coordinator is reachable.
        "akka.cluster.failure-detector.monitored-by-nr-of-members = 1000");

    private readonly ActorSystem system;

    /// <summary>Akka (before 1.5) creates the provider with the actor system only.</summary>
    public CoordinatorDowningProvider(ActorSystem system) => this.system = system;

    /// <summary>Akka 1.5 creates the provider with the actor system and its cluster.</summary>
    public CoordinatorDowningProvider(ActorSystem system, Akka.Cluster.Cluster cluster) : this(system) { }

    /// <summary>How long a member stays unreachable before it is downed.</summary>
    public TimeSpan DownAfter => system.Settings.Config.GetTimeSpan(DownAfterPath, TimeSpan.FromSeconds(60), allowInfinite: false);

    /// <summary>No cluster singletons or sharding wait on a downed node here.</summary>
    public TimeSpan DownRemovalMargin => TimeSpan.Zero;

    /// <inheritdoc />
    public Props DowningActorProps => Props.Create(() => new CoordinatorDowning(DownAfter));
}

/// <summary>The actor of <see cref="CoordinatorDowningProvider"/>, one on every node.</summary>
public sealed class CoordinatorDowning : ReceiveActor, IWithTimers
{
    private sealed record Tick
    {
        public static Tick Instance { get; } = new();
    }

    private readonly Akka.Cluster.Cluster cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly ILoggingAdapter log = Context.GetLogger();
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly TimeSpan downAfter;
    private readonly bool isCoordinator;
    private readonly Dictionary<UniqueAddress, (Member Member, TimeSpan Since)> unreachable = [];
    private readonly HashSet<UniqueAddress> downed = [];
    private TimeSpan? coordinatorLostSince;

    public CoordinatorDowning(TimeSpan downAfter)
    {
        this.downAfter = downAfter;
        isCoordinator = cluster.SelfRoles.Contains(ModelActor.CoordinatorRole);
        Receive<ClusterEvent.UnreachableMember>(u =>
        {
            if (!unreachable.ContainsKey(u.Member.UniqueAddress)) unreachable[u.Member.UniqueAddress] = (u.Member, clock.Elapsed);
        });
        Receive<ClusterEvent.ReachableMember>(r => unreachable.Remove(r.Member.UniqueAddress));
        Receive<ClusterEvent.MemberRemoved>(r =>
        {
            unreachable.Remove(r.Member.UniqueAddress);
            downed.Remove(r.Member.UniqueAddress);
        });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
        Receive<Tick>(_ =>
        {
            if (isCoordinator) DownWhatStayedUnreachable();
            else DownSelfWithoutCoordinator();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.ReachableMember), typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, TimeSpan.FromSeconds(1));
        log.Info("downing: {0} after {1} s unreachable (docs/architecture.md, \"Failure detection and split brain\")",
            isCoordinator ? "this coordinator downs any member" : "this node downs itself when it has lost the coordinator", downAfter.TotalSeconds);
    }

    protected override void PostStop() => cluster.Unsubscribe(Self);

    /// <summary>The coordinator: every member unreachable, from any node's view, for <see cref="downAfter"/>, except itself.</summary>
    private void DownWhatStayedUnreachable()
    {
        foreach (var (address, (member, since)) in unreachable.ToList())
        {
            if (address.Equals(cluster.SelfUniqueAddress) || downed.Contains(address) || clock.Elapsed - since < downAfter) continue;
            log.Warning("downing: member {0} roles [{1}] has been unreachable for {2:F0} s: the coordinator downs it",
                member.Address, string.Join(",", member.Roles), (clock.Elapsed - since).TotalSeconds);
            downed.Add(address);
            cluster.Down(member.Address);
        }
    }

    /// <summary>A model's node: its own failure detector has lost the coordinator for <see cref="downAfter"/>.</summary>
    private void DownSelfWithoutCoordinator()
    {
        var coordinator = cluster.State.Members.Where(m => m.HasRole(ModelActor.CoordinatorRole) && m.Status != MemberStatus.Down)
            .OrderBy(m => m, Member.AgeOrdering).FirstOrDefault();
        var lost = coordinator is not null && unreachable.ContainsKey(coordinator.UniqueAddress) && !cluster.FailureDetector.IsAvailable(coordinator.Address);
        if (!lost)
        {
            coordinatorLostSince = null;
            return;
        }
        coordinatorLostSince ??= clock.Elapsed;
        if (clock.Elapsed - coordinatorLostSince < downAfter || downed.Contains(cluster.SelfUniqueAddress)) return;
        log.Warning("downing: the coordinator {0} has been unreachable from this node for {1:F0} s: this node downs itself",
            coordinator!.Address, (clock.Elapsed - coordinatorLostSince.Value).TotalSeconds);
        downed.Add(cluster.SelfUniqueAddress);
        cluster.Down(cluster.SelfAddress);
    }
}
