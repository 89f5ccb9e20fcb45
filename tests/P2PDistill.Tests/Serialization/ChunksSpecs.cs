using P2PDistill.Shared.Messages;

namespace P2PDistill.Tests.Serialization;

/// <summary>The one chunking code of both actors: split, reassemble in any order, refuse what does not fit.</summary>
[Trait("Category", "Unit")]
public sealed class ChunksSpecs
{
    [Theory]
    [InlineData(0, 10, 1)]
    [InlineData(10, 10, 1)]
    [InlineData(11, 10, 2)]
    [InlineData(95, 10, 10)]
    public void Should_split_into_frame_sized_parts_and_put_them_back_together_in_any_order(int length, int size, int expected)
    {
        var payload = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();
        var parts = Chunks.Split(payload, size).ToList();
        Assert.Equal(expected, parts.Count);
        Assert.All(parts, p => Assert.InRange(p.Part.Length, 0, size));

        var assembler = new ChunkAssembler();
        byte[]? whole = null;
        foreach (var (index, count, part) in Enumerable.Reverse(parts))
        {
            Assert.Null(whole);
            Assert.True(assembler.TryAdd(index, count, part, out whole));
        }
        Assert.Equal(payload, whole);
    }

    [Theory]
    [InlineData(-1, 2)]
    [InlineData(2, 2)]
    [InlineData(0, 0)]
    [InlineData(0, int.MaxValue)]
    public void Should_refuse_a_part_that_cannot_belong_to_a_payload(int index, int count)
    {
        Assert.False(new ChunkAssembler().TryAdd(index, count, [1], out var whole));
        Assert.Null(whole);
    }

    [Fact]
    public void Should_refuse_a_part_whose_count_differs_from_the_announced_one()
    {
        var assembler = new ChunkAssembler(expectedCount: 2);

        Assert.False(assembler.TryAdd(0, 3, [1], out _));
        Assert.True(assembler.TryAdd(0, 2, [1], out var none));
        Assert.Null(none);
        Assert.True(assembler.TryAdd(1, 2, [2], out var whole));
        Assert.Equal([1, 2], whole);
    }
}
