using Akka.Actor;
using P2PDistill.Coordinator.Actors;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Serialization;
using P2PDistill.Shared.Training;
using Xunit.Abstractions;

namespace P2PDistill.Tests.Coordinator;

/// <summary>
/// Issue 16 §5: state chunks are sized from the configured remoting frame, not fixed at 8 MiB, so a frame of 8 MiB or less
/// still restores (and, on the models' side, checkpoints and exports: the same <see cref="WireLimits.ChunkBytes"/>).
/// </summary>
[Trait("Category", "Unit")]
public sealed class ChunkSizingSpecs(ITestOutputHelper output)
    : CoordinatorHarness(output, $"akka.remote.dot-netty.tcp.maximum-frame-size = {Frame}b")
{
    /// <summary>The smallest frame <c>--max-frame-mb</c> accepts.</summary>
    private const int Frame = 1024 * 1024;

    [Fact]
    public void Should_send_a_restored_state_in_parts_that_each_fit_the_remoting_frame()
    {
        var state = Enumerable.Range(0, 3 * Frame + 17).Select(i => (byte)(i * 31)).ToArray();
        var resume = new ResumePoint(2, 1, 0,
        [
            new ResumeModel("teacher", "tiny", TrainingOptions.ModelSeed(5, 0), 0, 2, state),
        ]);
        Start(Options(epochs: 2), resume: resume);

        var probe = CreateTestProbe();
        probe.Send(Coordinator, new RegisterModel("akka.tcp://p2pdistill@127.0.0.1:1", ModelRole.Teacher, "tiny", 1, 28, 28, Classes, Frame));
        var accepted = probe.ExpectMsg<RegistrationAccepted>(Wait);

        Assert.Equal(4, accepted.RestoreChunks);
        var assembler = new ChunkAssembler(accepted.RestoreChunks);
        byte[]? whole = null;
        for (int i = 0; i < accepted.RestoreChunks; i++)
        {
            var chunk = probe.ExpectMsg<RestoreChunk>(Wait);
            Assert.InRange(StepMessageSerializer.WireSize(chunk), 1, Frame - WireLimits.ChunkHeaderBytes + 1024);
            var serializer = new StepMessageSerializer((ExtendedActorSystem)Sys); // it refuses a frame larger than this system's
            var back = (RestoreChunk)serializer.FromBinary(serializer.ToBinary(chunk), "RC");
            Assert.True(assembler.TryAdd(back.Index, back.Count, back.Data, out whole));
        }
        Assert.Equal(state, whole);
    }

    [Theory]
    [InlineData(1, 1024 * 1024 - WireLimits.ChunkHeaderBytes)]
    [InlineData(8, 8 * 1024 * 1024 - WireLimits.ChunkHeaderBytes)]
    [InlineData(9, Chunks.PartBytes)]
    [InlineData(32, Chunks.PartBytes)]
    public void Should_size_chunks_from_the_frame_at_most_8_MiB(int frameMiB, int expected)
    {
        var limits = new WireLimits(frameMiB * 1024L * 1024);

        Assert.Equal(expected, limits.ChunkBytes);
        Assert.True(StepMessageSerializer.WireSize(new WeightsChunk(1, "student-000", 0, 1, new byte[limits.ChunkBytes])) < limits.FrameBytes);
        Assert.True(Chunks.MaxParts * (long)limits.ChunkBytes >= 8L << 30, "8 GiB of weights fits the most parts a payload may have");
    }
}
