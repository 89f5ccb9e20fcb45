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

    /// <summary>
    /// A model's weights in parts larger than the chunk every node sends (the same frame on every node), or announced in more parts
    /// than 8 GiB needs: the coordinator held up to 16,384 parts of a whole frame each for one export. Refused at the first such
    /// part, nothing buffered: that model is left out of the export with a warning, the others are written.
    /// </summary>
    [Theory]
    [InlineData(1, Frame - WireLimits.ChunkHeaderBytes + 1)]
    [InlineData(Chunks.MaxParts, 16)]
    public void Should_leave_out_of_the_export_a_model_whose_part_is_larger_than_the_chunk_or_whose_count_is_too_large(int count, int bytes)
    {
        var warnings = CreateTestProbe();
        Sys.EventStream.Subscribe(warnings.Ref, typeof(Akka.Event.Warning));
        Start();
        var t = Join(ModelRole.Teacher);
        var s1 = Join(ModelRole.Student);
        var s2 = Join(ModelRole.Student);
        RunStep(t, s1, s2);
        RunStep(t, s1, s2);
        Evaluate(t, s1, s2);
        Collect(t, s1, s2); // the checkpoint
        var export = new[] { t, s1, s2 }.Select(ExpectCollect).ToList();
        State(t, export[0]);
        State(s2, export[2]);

        s1.Probe.Send(Coordinator, new WeightsChunk(export[1].ExportId, s1.Id, 0, count, new byte[bytes]));

        var result = Result();
        Assert.Equal(["student-2", "teacher"], result.Exports!.Select(e => e.Setup.Id).Order());
        var warning = warnings.FishForMessage<Akka.Event.Warning>(w => w.Message.ToString()!.Contains(s1.Id), Wait);
        Assert.Contains("part 0 of " + count, warning.Message.ToString());
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
        Assert.True(Chunks.MaxPartsOf(limits.ChunkBytes) * (long)limits.ChunkBytes >= Chunks.MaxPayloadBytes, "8 GiB of weights fits the most parts a payload may have");
        Assert.True((Chunks.MaxPartsOf(limits.ChunkBytes) - 1) * (long)limits.ChunkBytes < Chunks.MaxPayloadBytes, "and no more parts than 8 GiB needs");
    }
}
