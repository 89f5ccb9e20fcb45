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

    [Fact]
    public void Should_refuse_a_part_larger_than_the_chunk_and_keep_nothing_of_it()
    {
        var assembler = new ChunkAssembler(partBytes: 10);

        Assert.True(assembler.TryAdd(0, 2, new byte[10], out _));
        Assert.False(assembler.TryAdd(1, 2, new byte[11], out var whole));
        Assert.Null(whole);
        Assert.Contains("part 1 of 2 has 11 bytes, more than the 10 bytes of a chunk", assembler.Problem);
        Assert.Contains("--max-frame-mb", assembler.Problem);
        Assert.True(assembler.TryAdd(1, 2, new byte[3], out whole)); // the refused part took no slot
        Assert.Equal(13, whole!.Length);
        Assert.Null(assembler.Problem);
    }

    [Theory]
    [InlineData(8 * 1024 * 1024, 1024)]
    [InlineData(1024 * 1024, 8192)]
    [InlineData(1024, Chunks.MaxParts)]
    public void Should_refuse_more_parts_than_8_GiB_needs_in_parts_of_the_chunk(int partBytes, int most)
    {
        Assert.Equal(most, Chunks.MaxPartsOf(partBytes));
        Assert.True(new ChunkAssembler(partBytes: partBytes).TryAdd(0, most, [1], out _));
        var assembler = new ChunkAssembler(partBytes: partBytes);
        Assert.False(assembler.TryAdd(0, most + 1, [1], out _));
        Assert.Contains($"part 0 of {most + 1}", assembler.Problem);
    }
}
