using P2PDistill.Shared.Hosting;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Cluster;

/// <summary>Mutual TLS with the real executables: certificates made by the test, flags as a user gives them.</summary>
[Trait("Category", "MultiProcess")]
[Collection(ProcessTests.Name)]
public sealed class TlsProcessSpecs : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);
    private readonly ProcessCluster cluster = ProcessCluster.Temporary("p2pdistill-tls-", tls: true);
    private readonly TestPki pki = new();

    public void Dispose()
    {
        cluster.Dispose();
        pki.Dispose();
    }

    private string dir => cluster.Dir;

    private RunningProcess Coordinator() => cluster.Start("coordinator", cluster.Coordinator()
        .Synthetic(train: 512, test: 64).Models("tiny", "tiny").BatchSize(32).Output(dir, "run").Epochs(1).MaxSteps(4).Threads(1)
        .With(pki.Flags(pki.Node("coordinator"))));

    private RunningProcess Peer(string name, string role, string[] tls, int? joinTimeout = null)
    {
        var peer = cluster.Peer(role).Model("tiny").Classes(4).Threads(1).With(tls);
        return cluster.Start(name, joinTimeout is { } seconds ? peer.JoinTimeout(seconds) : peer);
    }

    [Fact]
    public void Should_train_to_the_end_over_mutual_tls()
    {
        var coordinator = Coordinator();
        coordinator.WaitFor("Waiting for a teacher", Long);
        var peers = new[]
        {
            Peer("teacher", "teacher", pki.Flags(pki.Node("teacher"))),
            Peer("student-a", "student", pki.Flags(pki.Node("student-a"))),
            Peer("student-b", "student", pki.Flags(pki.Node("student-b"))),
        };
        Assert.True(coordinator.WaitForExit(Long) == (int)ExitCode.Completed, coordinator.Output);
        foreach (var p in peers) Assert.True(p.WaitForExit(Long) == (int)ExitCode.Completed, p.Output);
        Assert.Equal(4 * 3, new RunFiles(Path.Combine(dir, "run")).Steps().Count);
        Assert.Contains("akka.ssl.tcp://p2pdistill@127.0.0.1", coordinator.Output);
        Assert.DoesNotContain("TLS: refused", coordinator.Output);
    }

    [Fact]
    public void Should_keep_out_a_peer_whose_certificate_another_ca_signed_while_trusted_peers_train()
    {
        var coordinator = Coordinator();
        coordinator.WaitFor("Waiting for a teacher", Long);
        var teacher = Peer("teacher", "teacher", pki.Flags(pki.Node("teacher")));
        var rogue = Peer("rogue", "student", pki.Flags(pki.RogueNode("rogue"), caPath: pki.RogueCaPath), joinTimeout: 30);

        Assert.True(rogue.WaitForExit(Long) == (int)ExitCode.Unreachable, rogue.Output + "\n--- coordinator:\n" + coordinator.Output);
        // It does not trust the cluster's certificates either; Akka.Remote stops a node whose outgoing handshake fails,
        // so it exits before its join timeout, saying why.
        Assert.Contains("TLS: refused", rogue.Output);
        Assert.Contains("TLS: stopping", rogue.Output);
        Assert.Contains("--tls-ca", rogue.Output);
        coordinator.WaitFor("TLS: refused", Long);
        coordinator.WaitFor("CN=rogue", Long);
        Assert.DoesNotContain("student-1", coordinator.Output); // no student was ever admitted

        // The trusted nodes are unaffected: two students join and the run ends normally, without the rogue.
        var students = new[]
        {
            Peer("student-a", "student", pki.Flags(pki.Node("student-a"))),
            Peer("student-b", "student", pki.Flags(pki.Node("student-b"))),
        };
        Assert.True(coordinator.WaitForExit(Long) == (int)ExitCode.Completed, coordinator.Output);
        Assert.Equal((int)ExitCode.Completed, teacher.WaitForExit(Long));
        foreach (var s in students) Assert.Equal((int)ExitCode.Completed, s.WaitForExit(Long));
        var models = new RunFiles(Path.Combine(dir, "run")).Steps().Select(r => r.Model).Distinct().Order();
        Assert.Equal(["student-1", "student-2", "teacher"], models);
    }

    [Fact]
    public void Should_refuse_to_start_with_a_wrong_password_or_an_unreadable_ca()
    {
        File.WriteAllText(Path.Combine(pki.Directory, "wrong.txt"), "wrong\n");
        var peer = RunningProcess.Run(NodeArgs.Peer(seed: cluster.Seed)
            .With("--tls-cert", pki.Node("student"), "--tls-password-file", Path.Combine(pki.Directory, "wrong.txt"), "--tls-ca", pki.CaPath), dir, Long);
        Assert.Equal((int)ExitCode.BadInput, peer.ExitCode);
        Assert.Contains("cannot open certificate", peer.Stderr);
        Assert.Contains("--tls-password-file", peer.Stderr);

        var missingCa = Path.Combine(pki.Directory, "missing-ca.pem");
        var coordinator = RunningProcess.Run(cluster.Coordinator().Synthetic().Output(dir).With(pki.Flags(pki.Node("coordinator"), caPath: missingCa)), dir, Long);
        Assert.Equal((int)ExitCode.BadInput, coordinator.ExitCode);
        Assert.Contains($"CA certificate file '{missingCa}' (--tls-ca) does not exist", coordinator.Stderr);
        Assert.Empty(Directory.GetDirectories(dir)); // nothing was started or written
    }
}
