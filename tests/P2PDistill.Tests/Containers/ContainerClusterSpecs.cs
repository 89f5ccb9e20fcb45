using System.Text.RegularExpressions;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Containers;

/// <summary>
/// deploy/containers-test.sh end to end: the deploy kit's images built here (a debootstrap base, self-contained
/// publishes), then a coordinator, a teacher and two students in podman containers on their own network train to the
/// end; mid-run the teacher is stopped, a third student joins during the pause and a new teacher is restored from the
/// checkpoint; and the script removes everything it made. Needs root, podman and runc (the
/// script installs them with apt-get when missing) and the Debian mirror for the base image. Not in the default
/// <c>tests/run.sh</c> run (it installs system packages and builds images): <c>tests/run.sh --filter Category=Container</c>.
/// </summary>
[Trait("Category", "Container")]
[Collection(ProcessTests.Name)]
public sealed partial class ContainerClusterSpecs : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(20); // publish + image builds (~5 min on 2 cores) + the run
    private const int RunTimeoutSeconds = 400; // the cluster part; the script stops and cleans up before the test gives up
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-containers-").FullName;
    private readonly string prefix = "p2pd-ct-" + Convert.ToHexString(Guid.NewGuid().ToByteArray(), 0, 3).ToLowerInvariant();
    private readonly string script = Path.Combine(RepoRoot(), "deploy", "containers-test.sh");

    public void Dispose()
    {
        // Safety net: the script removes its containers, network and volume itself; this only matters when it was killed.
        if (Leftovers().Count > 0) Run([script, "--cleanup", "--name", prefix], TimeSpan.FromSeconds(120));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Should_train_a_cluster_of_containers_to_the_end_and_leave_nothing_behind()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the Container tests run as root (podman with bridge networks, apt-get)");

        var volumesBefore = Volumes();
        var run = Run([script, "--name", prefix, "--rebuild", "--epochs", "4", "--timeout", RunTimeoutSeconds.ToString(),
                       "--copy-run", dir], Limit);

        Assert.True(run.ExitCode == 0, $"containers-test.sh exited {run.ExitCode}:\n{run.Output}");
        Assert.Contains("[containers-test] PASSED", run.Output);

        // Every node in its own container at its own address on the network, none on loopback; the third student and
        // the second teacher too.
        var coordinatorLog = File.ReadAllText(Path.Combine(dir, "run", "container-logs", "coordinator.log"));
        var accepted = Accepted().Matches(coordinatorLog).Select(m => (Model: m.Groups["model"].Value, Ip: m.Groups["ip"].Value)).Distinct().ToList();
        Assert.True(accepted.Select(a => a.Model).ToHashSet().SetEquals(["teacher", "student-1", "student-2", "student-3"])
                    && accepted.Count == 5 && accepted.Select(a => a.Ip).Distinct().Count() == 5 && !accepted.Any(a => a.Ip == "10.213.8.2"),
            $"expected two teachers and three students at five addresses of their own, got [{string.Join(", ", accepted)}]:\n{coordinatorLog}");
        Assert.Contains("no teacher in the cohort (teacher-lost policy: wait)", coordinatorLog);
        Assert.Matches(@"student-3 joined the cohort at step \d+", coordinatorLog);
        var stoppedTeacher = File.ReadAllText(Path.Combine(dir, "run", "container-logs", "teacher.log"));
        Assert.DoesNotContain("Lost the coordinator", stoppedTeacher); // SIGTERM: it left and exited, no rejoin (PeerShutdownSpecs)
        Assert.DoesNotContain("Rejoining", stoppedTeacher);
        foreach (var node in new[] { "coordinator", "teacher", "student-1", "student-2", "student-3", "teacher-again" })
        {
            var log = File.ReadAllText(Path.Combine(dir, "run", "container-logs", node + ".log"));
            Assert.Contains("cluster: member up akka.tcp://p2pdistill@10.213.8.2:4053 roles [coordinator]", log);
            Assert.DoesNotContain("akka.tcp://p2pdistill@127.0.0.1", log);
        }

        // The run directory from the volume: four epochs (the stop, the pause and two joins happen well inside them) of the first two students, the teacher's steps but those in
        // flight when it was stopped, fewer steps of the late student, the evaluation.
        var files = new RunFiles(Path.Combine(dir, "run"));
        var steps = files.Steps();
        var full = steps.Select(s => s.GlobalStep).Distinct().Count();
        Assert.True(full == 4 * 64, $"expected four whole epochs of 64 steps of the synthetic set, got {full} steps");
        Assert.Equal(full, steps.Count(s => s.Model == "student-1"));
        Assert.Equal(full, steps.Count(s => s.Model == "student-2"));
        Assert.InRange(steps.Count(s => s.Model == "teacher"), full - 1 - P2PDistill.Coordinator.Actors.CoordinatorSettings.DefaultTeacherLookahead, full);
        Assert.Contains(steps, s => s.Model == "teacher" && s.GlobalStep == full);
        Assert.InRange(steps.Count(s => s.Model == "student-3"), 1, full - 1);
        Assert.Contains(files.Evaluations(), e => e.Model == "student-ensemble");
        Assert.True(File.Exists(Path.Combine(dir, "run", "summary.md")));

        // Nothing left behind: no container, network or volume of this prefix (the script's own check, and ours).
        Assert.Empty(Leftovers());
        Assert.Equal(volumesBefore, Volumes()); // nor an anonymous volume of the images' VOLUME /data/runs
        Assert.Contains($"removed containers, network and volume of {prefix}", run.Output);
    }

    [Fact]
    public void Should_train_the_compose_cluster_over_tls_with_three_students_under_podman_compose_and_leave_nothing_behind()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the Container tests run as root (podman with bridge networks, apt-get)");

        var volumesBefore = Volumes();
        var imagesBefore = Images();
        var run = Run([script, "--compose", "--tls", "--name", prefix, "--epochs", "1", "--timeout", RunTimeoutSeconds.ToString()], Limit);

        Assert.True(run.ExitCode == 0, $"containers-test.sh --compose exited {run.ExitCode}:\n{run.Output}");
        Assert.Contains("[containers-test] PASSED: coordinator, teacher and 3 students trained to the end with podman-compose over TLS (compose.tls.yaml)", run.Output);
        // deploy/docker/compose.yaml's services, five containers, every one exited 0 with cluster state in its log.
        Assert.Equal(5, Regex.Matches(run.Output, @"\[containers-test\] \S+: exit 0, [1-9]\d* 'cluster: member up' lines").Count);
        // deploy/docker/compose.tls.yaml: every node joined over TLS (the script also fails on any akka.tcp:// member).
        var accepted = Regex.Match(run.Output, @"coordinator accepted \(akka\.ssl\.tcp\): (?<list>.*)").Groups["list"].Value;
        foreach (var model in new[] { "teacher@", "student-1@", "student-2@", "student-3@" })
            Assert.Contains(model, accepted);
        Assert.Contains("summary.md", run.Output);

        Assert.Empty(Leftovers());
        Assert.Equal(volumesBefore, Volumes());
        Assert.Equal(imagesBefore, Images()); // the images it built and the :latest tags compose needed, removed
    }

    [GeneratedRegex(@"Accepted (?<model>teacher|student-\d+) \(tiny\) from akka\.tcp://p2pdistill@(?<ip>10\.213\.8\.\d+):\d+")]
    private static partial Regex Accepted();

    /// <summary>Containers, networks and volumes whose names start with this test's prefix.</summary>
    private static List<string> Volumes() =>
        [.. Podman("volume ls --format {{.Name}}").Order(StringComparer.Ordinal)];

    /// <summary>Every image by repository:tag (an untagged one as its id).</summary>
    private static List<string> Images() =>
        [.. Podman("images --format {{.Repository}}:{{.Tag}}:{{.ID}}").Order(StringComparer.Ordinal)];

    /// <summary>A podman listing; none before podman is installed (on a fresh machine the script installs it), when nothing can exist.</summary>
    private static IEnumerable<string> Podman(string arguments)
    {
        if (!PodmanInstalled()) return [];
        var result = RunningProcess.Run(Command.Of("podman", arguments.Split(' ')), new ProcessOptions(), TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, $"podman {arguments} exited {result.ExitCode}: {result.Output}");
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    private List<string> Leftovers()
    {
        var left = new List<string>();
        if (!PodmanInstalled()) return left; // nothing can have been made
        foreach (var list in new[] { "ps -a --format {{.Names}}", "network ls --format {{.Name}}", "volume ls --format {{.Name}}" })
            left.AddRange(Podman(list).Where(n => n.StartsWith(prefix + "-", StringComparison.Ordinal) || n.StartsWith(prefix + "_", StringComparison.Ordinal)));
        return left;
    }

    private static bool PodmanInstalled() => new[] { "/usr/bin/podman", "/usr/local/bin/podman" }.Any(File.Exists);

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "P2PDistill.sln"))) return d.FullName;
        throw new InvalidOperationException($"P2PDistill.sln not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs the script bounded in time; on timeout SIGTERM first (its trap removes what it made), then a kill.</summary>
    private static ProcessResult Run(IEnumerable<string> args, TimeSpan timeout) =>
        RunningProcess.Run(Command.Of("bash", args), new ProcessOptions(), timeout, stopGrace: TimeSpan.FromSeconds(90));
}
