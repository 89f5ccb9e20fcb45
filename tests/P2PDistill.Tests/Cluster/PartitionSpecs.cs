using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Akka.Remote;
using Akka.Remote.Transport;
using Microsoft.Extensions.Hosting;
using P2PDistill.Shared.Actors;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// Issue 16, item 7: an even network partition keeps the coordinator's side. Four clustered nodes (the coordinator, its seed, a
/// teacher, two students) in this process talk over real loopback sockets, each set up exactly as a node of the
/// program (<see cref="P2PDistill.Shared.Hosting.AkkaNode"/>); Akka.Remote's throttling transport adapter then drops every
/// byte between {coordinator, student-a} and {teacher, student-b}. The teacher's side holds the lowest addresses,
/// which keep-majority keeps in a tie: downing must keep the coordinator's side instead. And when only the link between
/// the coordinator and one student fails, only that student leaves (Akka's resolvers downed the coordinator too).
/// </summary>
[Trait("Category", "Cluster")]
public sealed class PartitionSpecs : IAsyncLifetime
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private readonly string system = "partition" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<IHost> hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var host in hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }
    }

    [Fact]
    public async Task Should_keep_the_coordinators_side_and_down_the_other_in_an_even_partition()
    {
        // Four free ports in increasing order: the teacher's side takes the two lowest.
        var ports = FreePorts(4);
        var coordinator = await Start(ModelActor.CoordinatorRole, ports[3]);
        var seed = coordinator.Address();
        var teacher = await Start("teacher", ports[0], seed);
        var studentB = await Start("student", ports[1], seed);
        var studentA = await Start("student", ports[2], seed);
        var all = new[] { teacher, studentB, coordinator, studentA };
        await Until(() => all.All(h => Akka.Cluster.Cluster.Get(h.System()).State.Members.Count(m => m.Status == MemberStatus.Up) == 4), "all four nodes up");

        IHost[] coordinatorSide = [coordinator, studentA], otherSide = [teacher, studentB];
        foreach (var a in coordinatorSide)
            foreach (var b in otherSide)
            {
                await Cut(a, b);
                await Cut(b, a);
            }

        // The coordinator's side downs the other and carries on as a cluster of two; the other side stops.
        await Until(() => otherSide.All(h => h.System().WhenTerminated.IsCompleted) || coordinatorSide.Any(h => h.System().WhenTerminated.IsCompleted),
            "one side of the partition stopped");
        Assert.True(coordinatorSide.All(h => !h.System().WhenTerminated.IsCompleted), "the coordinator's side was downed");
        var cluster = Akka.Cluster.Cluster.Get(coordinator.System());
        await Until(() => cluster.State.Members.Count == 2 && cluster.State.Unreachable.Count == 0, "the coordinator's side alone in its cluster");
        Assert.Equal(new[] { coordinator.Address(), studentA.Address() }.Order(), cluster.State.Members.Select(m => m.Address.ToString()).Order());
        Assert.All(cluster.State.Members, m => Assert.Equal(MemberStatus.Up, m.Status));
    }

    [Fact]
    public async Task Should_keep_the_coordinator_and_down_only_the_student_when_the_link_between_them_fails()
    {
        // Only the link between the coordinator and one student fails; every other link works. Akka's resolvers take
        // both ends of such a link for "indirectly connected" and down both: the coordinator too.
        var ports = FreePorts(4);
        var coordinator = await Start(ModelActor.CoordinatorRole, ports[0]);
        var seed = coordinator.Address();
        var teacher = await Start("teacher", ports[1], seed);
        var studentA = await Start("student", ports[2], seed);
        var studentB = await Start("student", ports[3], seed);
        var all = new[] { coordinator, teacher, studentA, studentB };
        await Until(() => all.All(h => Akka.Cluster.Cluster.Get(h.System()).State.Members.Count(m => m.Status == MemberStatus.Up) == 4), "all four nodes up");

        await Cut(coordinator, studentA);
        await Cut(studentA, coordinator);

        var cluster = Akka.Cluster.Cluster.Get(coordinator.System());
        await Until(() => studentA.System().WhenTerminated.IsCompleted || coordinator.System().WhenTerminated.IsCompleted, "a node downed");
        Assert.False(coordinator.System().WhenTerminated.IsCompleted, "the coordinator was downed for the failure of one of its links");
        await Until(() => coordinator.System().WhenTerminated.IsCompleted
                          || cluster.State.Members.Count == 3 && cluster.State.Unreachable.Count == 0, "the student removed from the coordinator's cluster");
        Assert.False(coordinator.System().WhenTerminated.IsCompleted, "the coordinator was downed for the failure of one of its links");
        Assert.Equal(new[] { coordinator.Address(), teacher.Address(), studentB.Address() }.Order(), cluster.State.Members.Select(m => m.Address.ToString()).Order());
        Assert.All(cluster.State.Members, m => Assert.Equal(MemberStatus.Up, m.Status));
        Assert.False(teacher.System().WhenTerminated.IsCompleted || studentB.System().WhenTerminated.IsCompleted, "a node with working links was downed");
    }

    /// <summary>A node as the programs set it up, on the given port, with the throttling adapter on its transport.</summary>
    private async Task<IHost> Start(string role, int port, string? seed = null)
    {
        var node = ClusterHosts.Node(system, seed is null ? [] : [seed]);
        node.Port = port;
        node.DownAfterSeconds = 5;
        var host = await ClusterHosts.Start(node, role, akka => akka.AddHocon("akka.remote.dot-netty.tcp.applied-adapters = [trttl]", HoconAddMode.Prepend));
        hosts.Add(host);
        return host;
    }

    /// <summary>Drops everything <paramref name="from"/> sends to or receives from <paramref name="to"/>.</summary>
    private static async Task Cut(IHost from, IHost to)
    {
        var transport = ((IRemoteActorRefProvider)((ExtendedActorSystem)from.System()).Provider).Transport;
        var address = Akka.Cluster.Cluster.Get(to.System()).SelfAddress;
        Assert.True(await transport.ManagementCommand(new SetThrottle(address, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance)));
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        listeners.ForEach(l => l.Start());
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).Order().ToArray();
        listeners.ForEach(l => l.Stop());
        return ports;
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {Limit.TotalMinutes} minutes: {what}");
            await Task.Delay(250);
        }
    }
}
