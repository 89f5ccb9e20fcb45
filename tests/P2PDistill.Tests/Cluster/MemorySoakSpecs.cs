using System.Diagnostics;
using P2PDistill.Tests.Support;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Cluster;

/// <summary>
/// DESIGN.md §11: a node's memory stays flat over many steps (no leaked native tensors, no growing buffers).
/// A coordinator, a teacher and two students as real processes train 1,000 steps with tiny models (20 epochs of 50
/// steps, so evaluations, checkpoints and plots are part of the soak); every node's resident memory is sampled against
/// the step the run has reached. "Its value after the first 100 steps" is the median over steps 100-199, which
/// smooths the garbage collector's sawtooth; every later value up to the last step (the median of 5 consecutive samples,
/// about a second and a quarter, for the same reason) must stay within ±10 % of it. Raw extremes are reported too.
/// </summary>
[Trait("Category", "MultiProcess")]
public sealed class MemorySoakSpecs(ITestOutputHelper output) : IDisposable
{
    private const int Steps = 1000;
    private const int Baseline = 100;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(8);
    private readonly ProcessCluster cluster = new("p2pdistill-soak-");

    public void Dispose() => cluster.Dispose();

    [Fact]
    public void Should_keep_every_nodes_resident_memory_within_ten_percent_over_a_thousand_steps()
    {
        var coordinator = cluster.Start("coordinator", "p2pdistill-coordinator.dll",
            ["--port", cluster.Port.ToString(), "--dataset", "synthetic", "--Data:SyntheticTrain=1600", "--Data:SyntheticTest=256",
             "--teacher-model", "tiny", "--student-model", "tiny", "--batch-size", "32", "--epochs", (Steps / 50).ToString(),
             "--output", cluster.Dir, "--run-name", "soak"]);
        coordinator.WaitFor("Waiting for a teacher", Long);
        foreach (var (name, role) in new[] { ("teacher", "teacher"), ("student-a", "student"), ("student-b", "student") })
            cluster.Start(name, "p2pdistill-peer.dll", ["--role", role, "--model", "tiny", "--classes", "4", "--seed-nodes", cluster.Seed, "--threads", "1"]);

        // Sample (step reached, RSS of every node) until the last step is written.
        var steps = Path.Combine(cluster.Dir, "soak", "metrics", "steps.jsonl");
        var samples = cluster.Nodes.ToDictionary(n => n.Name, _ => new List<(int Step, long Kib)>());
        var clock = Stopwatch.StartNew();
        int step = 0;
        while (step < Steps)
        {
            Assert.True(clock.Elapsed < Long, $"the soak did not reach step {Steps} in {Long} (at {step}):\n{coordinator.Output}");
            Assert.False(coordinator.HasExited, coordinator.Output);
            step = File.Exists(steps) ? CountLines(steps) : 0;
            if (step is >= Baseline and < Steps) // training only: the final evaluation and export come after the last step
                foreach (var n in cluster.Nodes)
                    if (n.ResidentKiB() is { } kib) samples[n.Name].Add((step, kib));
            Thread.Sleep(250);
        }
        Assert.Equal(0, coordinator.WaitForExit(Long));

        foreach (var (name, list) in samples)
        {
            Assert.True(list.Count >= 10, $"{name}: only {list.Count} samples");
            var window = list.Where(s => s.Step < 2 * Baseline).Select(s => s.Kib).Order().ToList();
            Assert.True(window.Count >= 1, $"{name}: no sample between steps {Baseline} and {2 * Baseline}");
            long baseline = window[window.Count / 2], rawMax = list.Max(s => s.Kib), rawMin = list.Min(s => s.Kib), last = list[^1].Kib;
            var smoothed = Enumerable.Range(0, list.Count - 4).Select(i => list.Skip(i).Take(5).Select(s => s.Kib).Order().ElementAt(2)).ToList();
            long max = smoothed.Max(), min = smoothed.Min();
            output.WriteLine($"{name}: RSS median over steps {Baseline}-{2 * Baseline - 1} {baseline / 1024.0:F1} MiB; smoothed min {min / 1024.0:F1} " +
                             $"({Pct(min, baseline)}), max {max / 1024.0:F1} ({Pct(max, baseline)}); raw min {rawMin / 1024.0:F1} ({Pct(rawMin, baseline)}), " +
                             $"max {rawMax / 1024.0:F1} ({Pct(rawMax, baseline)}); at step {list[^1].Step} {last / 1024.0:F1} MiB ({Pct(last, baseline)}); {list.Count} samples");
            Assert.True(max <= baseline * 1.10 && min >= baseline * 0.90,
                $"{name}: resident memory left the ±10 % band around {baseline} KiB (median of steps {Baseline}-{2 * Baseline - 1}): min {min}, max {max} KiB");
        }
    }

    private static string Pct(long value, long baseline) => $"{100.0 * (value - baseline) / baseline:+0.0;-0.0;0.0} %";

    private static int CountLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        int count = 0;
        int b;
        while ((b = stream.ReadByte()) >= 0)
            if (b == '\n') count++;
        return count;
    }
}
