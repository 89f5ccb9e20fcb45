using P2PDistill.Shared.Data;

namespace P2PDistill.Tests.Data;

[Trait("Category", "Unit")]
public sealed class BatchPlanSpecs
{
    [Theory]
    [InlineData(10, 3, false, 4)]
    [InlineData(10, 3, true, 3)]
    [InlineData(9, 3, false, 3)]
    [InlineData(9, 3, true, 3)]
    [InlineData(2, 3, true, 0)]
    [InlineData(0, 3, false, 0)]
    [InlineData(60000, 128, false, 469)]
    public void Should_count_steps_per_epoch(int count, int batch, bool dropLast, int expected) =>
        Assert.Equal(expected, BatchPlan.StepsPerEpoch(count, batch, dropLast));

    [Fact]
    public void Should_visit_every_index_once_per_epoch()
    {
        var plan = new BatchPlan(103, 10, seed: 4);

        foreach (int epoch in new[] { 0, 1, 7 })
        {
            var seen = plan.Batches(epoch).SelectMany(b => b).ToArray();
            Assert.Equal(103, seen.Length);
            Assert.Equal(Enumerable.Range(0, 103), seen.Order());
        }
        Assert.Equal(3, plan.Indices(0, 10).Length);
    }

    [Fact]
    public void Should_drop_the_last_partial_batch_when_asked()
    {
        var plan = new BatchPlan(103, 10, seed: 4, dropLast: true);

        Assert.Equal(10, plan.Steps);
        Assert.All(plan.Batches(0), b => Assert.Equal(10, b.Length));
        Assert.Throws<ArgumentOutOfRangeException>(() => plan.Indices(0, 10));
    }

    [Fact]
    public void Should_be_a_pure_function_of_seed_and_epoch()
    {
        var a = new BatchPlan(1000, 32, seed: 9);
        var b = new BatchPlan(1000, 32, seed: 9);

        Assert.Equal(a.Permutation(3), b.Permutation(3));
        Assert.Equal(a.Indices(5, 7), new BatchPlan(1000, 32, 9).Indices(5, 7)); // no dependence on earlier epochs
        Assert.NotEqual(a.Permutation(3), a.Permutation(4));
        Assert.NotEqual(a.Permutation(3), new BatchPlan(1000, 32, seed: 10).Permutation(3));
        Assert.NotEqual(Enumerable.Range(0, 1000), a.Permutation(0));
    }

    [Fact]
    public void Should_match_the_pinned_permutation_on_every_machine()
    {
        Assert.Equal(PinnedPermutation, new BatchPlan(10, 4, seed: 1).Permutation(0));
    }

    // Pinned from an independent Python re-implementation of the hash, SplitMix64 and Fisher–Yates.
    private static readonly int[] PinnedPermutation = [8, 1, 9, 4, 0, 3, 7, 6, 2, 5];

    [Fact]
    public void Should_batch_the_test_set_in_order()
    {
        var plan = BatchPlan.InOrder(7, 3);

        Assert.Equal(new[] { new[] { 0, 1, 2 }, [3, 4, 5], [6] }, plan.Batches(0).ToArray());
        Assert.Equal(plan.Batches(0), plan.Batches(5));
    }

    [Fact]
    public void Should_locate_a_global_step()
    {
        var plan = new BatchPlan(100, 30, seed: 1); // 4 steps per epoch

        Assert.Equal((0, 0), plan.Locate(0));
        Assert.Equal((2, 1), plan.Locate(9));
        Assert.Equal((3, 1), plan.Locate(9, firstEpoch: 1));
    }

    [Fact]
    public void Should_reproduce_the_reference_splitmix64_sequence()
    {
        // Vigna's reference splitmix64.c with seed 1234567.
        var rng = new SplitMix64(1234567);

        Assert.Equal(new ulong[] { 6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821 },
            Enumerable.Range(0, 5).Select(_ => rng.NextUInt64()).ToArray());
    }

    [Fact]
    public void Should_draw_unbiased_bounded_integers()
    {
        var rng = new SplitMix64(42);
        var counts = new int[6];
        for (int i = 0; i < 60000; i++) counts[rng.NextInt(6)]++;

        Assert.All(counts, c => Assert.InRange(c, 9500, 10500));
    }
}
