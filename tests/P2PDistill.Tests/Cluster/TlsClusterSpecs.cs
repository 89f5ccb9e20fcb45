using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>Mutual TLS between actor systems in one process: who may join a cluster whose nodes require the cluster CA.</summary>
[Trait("Category", "Cluster")]
public sealed class TlsClusterSpecs : IDisposable
{
    private static readonly TimeSpan Join = TimeSpan.FromSeconds(20);
    private readonly TestPki pki = new();
    private readonly List<IHost> hosts = [];

    public void Dispose()
    {
        foreach (var h in hosts)
        {
            try { h.StopAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult(); } catch (OperationCanceledException) { }
            h.Dispose();
        }
        pki.Dispose();
    }

    private async Task<IHost> Start(string role, TlsOptions? tls, params string[] seeds)
    {
        var node = ClusterHosts.Node("tls", seeds);
        if (tls is not null) node.Tls = tls;
        var host = await ClusterHosts.Start(node, role, _ => { });
        hosts.Add(host);
        return host;
    }

    private static async Task<bool> Eventually(Func<bool> condition, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (condition()) return true;
            await Task.Delay(100);
        }
        return condition();
    }

    private static int UpMembers(IHost host) =>
        Akka.Cluster.Cluster.Get(host.System()).State.Members.Count(m => m.Status == MemberStatus.Up);

    private static bool Knows(IHost host, string address) =>
        Akka.Cluster.Cluster.Get(host.System()).State.Members.Any(m => m.Address.ToString() == address);

    /// <summary>
    /// A node that speaks TLS with the given certificate but trusts every certificate it is shown, as an intruder
    /// would: whether it gets in depends only on the cluster's nodes checking its certificate.
    /// </summary>
    private async Task<IHost> StartIntruder(string pfx, string seed)
    {
        var certificate = TestPki.Load(pfx);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAkka("tls", (akka, _) => akka
            .ConfigureWireFormat()
            .WithRemoting(new RemoteOptions
            {
                HostName = "127.0.0.1", Port = 0, EnableSsl = true,
                Ssl = new SslOptions
                {
                    X509Certificate = certificate, SuppressValidation = true, RequireMutualAuthentication = true,
                    CustomValidator = (_, _, _, _, _) => true,
                },
            })
            .WithClustering(new ClusterOptions { Roles = ["student"], SeedNodes = [seed] }));
        var host = builder.Build();
        await host.StartAsync();
        hosts.Add(host);
        return host;
    }

    [Fact]
    public async Task Should_form_a_cluster_over_tls_with_certificates_of_the_cluster_ca()
    {
        var seed = await Start("coordinator", pki.Options(pki.Node("coordinator")));
        var seedAddress = seed.Address();
        var peer = await Start("student", pki.Options(pki.Node("student")), seedAddress);
        Assert.StartsWith("akka.ssl.tcp://tls@127.0.0.1:", seedAddress); // Akka.Remote names the scheme so under TLS
        Assert.True(await Eventually(() => UpMembers(seed) == 2 && UpMembers(peer) == 2, Join), $"seed address {seedAddress}");
    }

    public static TheoryData<string, bool> Intruders => new()
    {
        { "trusted", true }, // the control: the intruder's set-up can join when its certificate is the cluster CA's
        { "rogue-ca", false },
        { "self-signed", false },
    };

    [Theory]
    [MemberData(nameof(Intruders))]
    public async Task Should_let_in_only_a_node_whose_certificate_the_cluster_ca_signed(string certificate, bool admitted)
    {
        var seed = await Start("coordinator", pki.Options(pki.Node("coordinator")));
        var member = await Start("teacher", pki.Options(pki.Node("teacher")), seed.Address());
        Assert.True(await Eventually(() => UpMembers(seed) == 2, Join));

        var pfx = certificate switch
        {
            "trusted" => pki.Node("intruder"),
            "rogue-ca" => pki.RogueNode("intruder"),
            _ => pki.SelfSignedNode("intruder"),
        };
        var intruder = await StartIntruder(pfx, seed.Address());
        var address = intruder.Address();
        if (admitted)
        {
            Assert.True(await Eventually(() => UpMembers(seed) == 3 && UpMembers(intruder) == 3, Join));
            return;
        }
        // Well past the time a join takes (the control joins in a few seconds): it never becomes a member, in any state.
        Assert.False(await Eventually(() => Knows(seed, address) || Knows(member, address), TimeSpan.FromSeconds(10)));
        Assert.NotEqual(MemberStatus.Up, Akka.Cluster.Cluster.Get(intruder.System()).SelfMember.Status);
        // The trusted members are unaffected.
        Assert.Equal(2, UpMembers(seed));
        Assert.Equal(2, UpMembers(member));
        var late = await Start("student", pki.Options(pki.Node("student")), seed.Address());
        Assert.True(await Eventually(() => UpMembers(seed) == 3 && UpMembers(late) == 3, Join));
    }

    [Fact]
    public async Task Should_not_let_in_a_node_without_tls()
    {
        var seed = await Start("coordinator", pki.Options(pki.Node("coordinator")));
        // It dials the seed's port in plain TCP (akka.tcp): the seed expects a TLS handshake.
        var plain = await Start("student", tls: null, seed.Address().Replace("akka.ssl.tcp://", "akka.tcp://"));
        var address = plain.Address();
        Assert.False(await Eventually(() => Knows(seed, address), TimeSpan.FromSeconds(10)));
        Assert.Equal(1, UpMembers(seed));
    }
}
