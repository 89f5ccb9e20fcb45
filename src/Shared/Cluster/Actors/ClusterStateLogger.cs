using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace P2PDistill.Shared.Actors;

/// <summary>
/// Logs cluster state on every node (DESIGN.md §6): members joining, up, leaving, exiting, removed,
/// unreachable and reachable again, leader changes, and a periodic one-line summary of members by role,
/// followed by this node's memory (resident, managed heap, native tensors' share).
/// </summary>
public sealed class ClusterStateLogger : ReceiveActor, IWithTimers
{
    private sealed record Summarize
    {
        public static Summarize Instance { get; } = new();
    }

    private readonly ActorLog log;
    private readonly Cluster cluster = Cluster.Get(Context.System);
    private readonly TimeSpan interval;
    private readonly Dictionary<Address, Member> members = [];

    public ClusterStateLogger(TimeSpan interval, Microsoft.Extensions.Logging.ILoggerFactory? logging = null)
    {
        this.interval = interval;
        log = ActorLog.For(Context, logging, "P2PDistill.ClusterState");
        Receive<ClusterEvent.MemberJoined>(e => log.Info("cluster: member joining {0} roles [{1}]", e.Member.Address, Roles(e.Member)));
        Receive<ClusterEvent.MemberUp>(e =>
        {
            log.Info("cluster: member up {0} roles [{1}]", e.Member.Address, Roles(e.Member));
            members[e.Member.Address] = e.Member;
            log.Info("cluster: {0}", Summary(members.Values, cluster.State, cluster.SelfAddress));
        });
        Receive<ClusterEvent.MemberLeft>(e =>
        {
            log.Info("cluster: member leaving {0} roles [{1}]", e.Member.Address, Roles(e.Member));
            members[e.Member.Address] = e.Member;
        });
        Receive<ClusterEvent.MemberExited>(e =>
        {
            log.Info("cluster: member exiting {0} roles [{1}]", e.Member.Address, Roles(e.Member));
            members[e.Member.Address] = e.Member;
        });
        Receive<ClusterEvent.MemberRemoved>(e =>
        {
            log.Info("cluster: member removed {0} roles [{1}] (was {2})", e.Member.Address, Roles(e.Member), e.PreviousStatus);
            members.Remove(e.Member.Address);
            log.Info("cluster: {0}", Summary(members.Values, cluster.State, cluster.SelfAddress));
        });
        Receive<ClusterEvent.UnreachableMember>(e => log.Warning("cluster: member unreachable {0} roles [{1}]", e.Member.Address, Roles(e.Member)));
        Receive<ClusterEvent.ReachableMember>(e => log.Info("cluster: member reachable again {0} roles [{1}]", e.Member.Address, Roles(e.Member)));
        Receive<ClusterEvent.LeaderChanged>(e => log.Info("cluster: leader is now {0}", e.Leader?.ToString() ?? "none"));
        Receive<ClusterEvent.IMemberEvent>(e =>
        {
            if (members.ContainsKey(e.Member.Address)) members[e.Member.Address] = e.Member;
        });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
        Receive<Summarize>(_ =>
        {
            log.Info("cluster: {0}", Summary(cluster.State.Members, cluster.State, cluster.SelfAddress));
            log.Info("memory: {0}", NodeMemory.Read());
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TimeSpan interval, Microsoft.Extensions.Logging.ILoggerFactory? logging = null) =>
        Akka.Actor.Props.Create(() => new ClusterStateLogger(interval, logging));

    /// <summary>One line: members by status and role, unreachable ones, the leader.</summary>
    public static string Summary(IEnumerable<Member> all, ClusterEvent.CurrentClusterState state, Address self)
    {
        var list = all.ToList();
        var up = list.Where(m => m.Status == MemberStatus.Up).ToList();
        var byRole = up.SelectMany(m => m.Roles.DefaultIfEmpty("(none)")).GroupBy(r => r).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
        var others = list.Where(m => m.Status != MemberStatus.Up).Select(m => $"{m.Address} {m.Status.ToString().ToLowerInvariant()}");
        var unreachable = state.Unreachable.Select(m => m.Address.ToString()).ToList();
        return $"{up.Count} up ({string.Join(", ", byRole)})"
               + (others.Any() ? $"; other: {string.Join(", ", others)}" : "")
               + $"; unreachable: {(unreachable.Count == 0 ? "none" : string.Join(", ", unreachable))}"
               + $"; leader {state.Leader?.ToString() ?? "none"}; self {self}";
    }

    protected override void PreStart()
    {
        cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.LeaderChanged));
        if (interval > TimeSpan.Zero) Timers.StartPeriodicTimer(nameof(Summarize), Summarize.Instance, interval);
    }

    protected override void PostStop() => cluster.Unsubscribe(Self);

    private static string Roles(Member m) => string.Join(",", m.Roles);
}
