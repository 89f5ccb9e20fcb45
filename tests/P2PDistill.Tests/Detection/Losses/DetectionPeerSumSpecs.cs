using P2PDistill.Shared.Detection;
using TorchSharp;
using static P2PDistill.Tests.Detection.Losses.DetectionLossTesting;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Detection.Losses;

/// <summary>
/// The peer-sum identity for detection ML (docs/design/detection.md §3): what the coordinator builds from all students'
/// maps at once (total − own) gives, in <see cref="DetectionLoss.Ml(Tensor, DetectionPeerTensors, double, DetectionLayout)"/>,
/// the same value and gradient as summing KD over the peers one by one.
/// </summary>
[Trait("Category", "Unit")]
public sealed class DetectionPeerSumSpecs
{
    private const double Temperature = 2.0;

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Should_equal_the_direct_sum_over_peers_in_value_and_gradient(int students)
    {
        using var scope = NewDisposeScope();
        const int batch = 2;
        var layout = Small;
        var maps = Enumerable.Range(0, students).Select(i => RandomMap(100 + i, batch, layout, scale: 1.5 + i)).ToArray();

        var sums = DetectionPeerTargets.Build(maps, batch, layout, Temperature);

        Assert.Equal(students, sums.Length);
        for (int i = 0; i < students; i++)
        {
            var peers = maps.Where((_, j) => j != i).ToArray();
            Assert.Equal(students - 1, sums[i].Peers);

            var viaSums = MlWithGradient(maps[i], batch, m => DetectionLoss.Ml(m, sums[i].ToTensors(batch, layout, ScalarType.Float64), Temperature, layout));
            var direct = MlWithGradient(maps[i], batch, m => DetectionLoss.MlDirect(m, peers.Select(p => MapTensor(p, batch, layout)).ToList(), Temperature, layout));

            Assert.True(direct.Value > 0);
            AssertClose(direct.Value, viaSums.Value, 1e-9, $"ml of student {i}");
            AssertClose(peers.Average(p => ReferenceKd(maps[i], p, batch, layout, Temperature)), viaSums.Value, 1e-9, $"ml of student {i} (plain)");
            double scale = direct.Gradient.Max(Math.Abs);
            AssertClose(direct.Gradient, viaSums.Gradient, 1e-9, 1e-9 * scale, $"ml gradient of student {i}");
        }
    }

    [Fact]
    public void Should_send_each_student_the_totals_minus_its_own_terms()
    {
        var layout = Small;
        var maps = Enumerable.Range(0, 3).Select(i => RandomMap(200 + i, 1, layout)).ToArray();
        var own = maps.Select(m => DetectionPeerTargets.Contribution(m, 1, layout, Temperature)).ToArray();

        var sums = DetectionPeerTargets.Build(maps, 1, layout, Temperature);

        // Student 0 gets students 1 and 2; A, Wt, Hc, S and Hs alike.
        AssertClose(Add(own[1].ClassProbSum, own[2].ClassProbSum), sums[0].ClassProbSum, 1e-12, 1e-15, "A");
        AssertClose(Add(own[1].WeightSum, own[2].WeightSum), sums[0].WeightSum, 1e-12, 1e-15, "Wt");
        AssertClose(Add(own[1].ClassNegEntropySum, own[2].ClassNegEntropySum), sums[0].ClassNegEntropySum, 1e-12, 1e-15, "Hc");
        AssertClose(Add(own[1].SideProbSum, own[2].SideProbSum), sums[0].SideProbSum, 1e-12, 1e-15, "S");
        AssertClose(Add(own[1].SideNegEntropySum, own[2].SideNegEntropySum), sums[0].SideNegEntropySum, 1e-12, 1e-15, "Hs");
        // Each source's weights sum to 1 over the batch when Σ w > 1 (here: 20 locations of σ around ½), and each of its
        // side distributions sums to its weight.
        Assert.Equal(1.0, own[1].WeightSum.Sum(), 12);
        Assert.Equal(own[1].WeightSum[7], own[1].SideProbSum.Skip(7 * 16 + 4).Take(4).Sum(), 12);
    }

    [Fact]
    public void Should_give_a_lone_student_no_peers_and_zero_ML()
    {
        using var scope = NewDisposeScope();
        var map = RandomMap(300, 1, Small);

        var sums = DetectionPeerTargets.Build([map], 1, Small, Temperature);

        Assert.Equal(0, sums[0].Peers);
        Assert.All(sums[0].ClassProbSum.Concat(sums[0].WeightSum).Concat(sums[0].SideProbSum), v => Assert.Equal(0.0, v));
        Assert.Equal(0.0, DetectionLoss.Ml(MapTensor(map, 1, Small), sums[0].ToTensors(1, Small, ScalarType.Float64), Temperature, Small).ToDouble());
    }

    [Fact]
    public void Should_build_the_same_sums_from_float_maps()
    {
        var maps = Enumerable.Range(0, 3).Select(i => Array.ConvertAll(RandomMap(400 + i, 1, Small), v => (float)v)).ToArray();

        var fromFloat = DetectionPeerTargets.Build(maps, 1, Small, Temperature);
        var fromDouble = DetectionPeerTargets.Build(maps.Select(m => Array.ConvertAll(m, v => (double)v)).ToArray(), 1, Small, Temperature);

        Assert.Equal(fromDouble[2].SideProbSum, fromFloat[2].SideProbSum);
        Assert.Equal(fromDouble[2].ClassNegEntropySum, fromFloat[2].ClassNegEntropySum);
    }

    [Fact]
    public void Should_refuse_a_map_of_the_wrong_size()
    {
        var ex = Assert.Throws<ArgumentException>(() => DetectionPeerTargets.Build([new double[17]], 1, Small, Temperature));
        Assert.Contains("20 locations", ex.Message);
    }

    private static (double Value, double[] Gradient) MlWithGradient(double[] map, int batch, Func<Tensor, Tensor> ml)
    {
        using var scope = NewDisposeScope();
        var input = MapTensor(map, batch, Small).requires_grad_();
        var value = ml(input);
        value.backward();
        return (value.ToDouble(), Values(input.grad!));
    }

    private static double[] Add(double[] a, double[] b) => a.Zip(b, (x, y) => x + y).ToArray();
}
