using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Serialization;
using SerializationException = System.Runtime.Serialization.SerializationException;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Detection;
using P2PDistill.Shared.Messages;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Serialization;

/// <summary>
/// Binary serializer for the step messages (DESIGN.md §7): little-endian fields, arrays as a length and raw bytes,
/// no reflection and no type names on the wire. Everything it reads is validated (lengths, shapes), so a
/// malformed frame fails with <see cref="SerializationException"/> instead of allocating at an attacker's word.
/// A batch (<see cref="TrainStep"/>, <see cref="EvaluateBatch"/>) is its shape, pixels and labels, then a presence flag and,
/// when set, <see cref="ImageBatch.Boxes"/> (detection: <see cref="BoxCodec"/>'s floats, checked against the image count).
/// </summary>
public sealed class StepMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int SerializerId = 4711;
    private const int MaxArray = 256 * 1024 * 1024;

    public override int Identifier => SerializerId;

    /// <summary>Bytes a message takes on the wire (for the per-step traffic figures), without serialising it: an upper bound, within 64 bytes.</summary>
    public static long WireSize(object message) => message switch
    {
        TrainStep m => BatchMessageSize(m.Batch.Shape, m.Batch.Count, m.Batch.Boxes?.Length),
        EvaluateBatch m => BatchMessageSize(m.Batch.Shape, m.Batch.Count, m.Batch.Boxes?.Length),
        EvalProbabilities m => OutputsMessageSize(m.ModelId, m.Probabilities.Length),
        StepLogits m => OutputsMessageSize(m.ModelId, m.Logits.Length),
        WeightsChunk m => 64 + m.ModelId.Length + m.Data.Length,
        RestoreChunk m => 64 + m.ModelId.Length + m.Data.Length,
        ApplyTargets m => TargetsMessageSize(m.Targets.PayloadBytes / sizeof(float)),
        ApplyAndTrain m => WireSize(m.Apply) + WireSize(m.Next),
        _ => 128,
    };

    /// <summary><see cref="WireSize"/> of a <see cref="TrainStep"/> or <see cref="EvaluateBatch"/> of <paramref name="images"/> images carrying <paramref name="boxFloats"/> box floats (null: no boxes).</summary>
    public static long BatchMessageSize(ImageShape shape, long images, long? boxFloats) =>
        64 + images * shape.Pixels + 4 * images + (boxFloats is { } f ? 4 + 4 * f : 0); // the presence flag fits in the 64

    /// <summary><see cref="WireSize"/> of a <see cref="StepLogits"/> or <see cref="EvalProbabilities"/> from <paramref name="modelId"/> carrying <paramref name="floats"/> floats.</summary>
    public static long OutputsMessageSize(string modelId, long floats) => 64 + modelId.Length + 4 * floats;

    /// <summary><see cref="WireSize"/> of an <see cref="ApplyTargets"/> whose targets hold <paramref name="floats"/> floats in all.</summary>
    public static long TargetsMessageSize(long floats) => 64 + 4 * floats;

    public override string Manifest(object o) => o switch
    {
        TrainStep => "TS",
        StepLogits => "SL",
        ApplyTargets => "AT",
        StepDone => "SD",
        EvaluateBatch => "EB",
        EvalProbabilities => "EP",
        TrainStepLocal => "TL",
        EvaluateLocal => "EL",
        ExportWeights => "EW",
        WeightsChunk => "WC",
        RestoreChunk => "RC",
        StepFailed => "SF",
        ApplyAndTrain => "AN",
        _ => throw new ArgumentException($"{nameof(StepMessageSerializer)} cannot serialize {o.GetType()}"),
    };

    /// <summary>
    /// A batch (<see cref="TrainStep"/>, <see cref="EvaluateBatch"/>) goes to every model of the cohort as one message object:
    /// its bytes are made once and reused for every recipient (and inside every student's <see cref="ApplyAndTrain"/>),
    /// for as long as the message object lives.
    /// </summary>
    private static readonly ConditionalWeakTable<object, byte[]> Broadcast = new();

    public override byte[] ToBinary(object obj) => obj is TrainStep or EvaluateBatch ? Broadcast.GetValue(obj, Encode) : Encode(obj);

    /// <summary>
    /// Writes into a pooled buffer of the message's wire-size bound and copies out exactly the bytes written: one allocation
    /// of the message's size per message, no growing stream and no second large-object-heap copy.
    /// </summary>
    private static byte[] Encode(object obj)
    {
        var rented = ArrayPool<byte>.Shared.Rent((int)Math.Min(WireSize(obj) + 64, MaxArray));
        try
        {
            int length;
            try
            {
                length = Write(obj, new MemoryStream(rented, 0, rented.Length, writable: true));
            }
            catch (NotSupportedException)
            {
                // Longer than its bound (an id with many multi-byte characters): a growing stream, once.
                var grown = new MemoryStream();
                Write(obj, grown);
                return grown.ToArray();
            }
            return rented.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static int Write(object obj, MemoryStream ms)
    {
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            switch (obj)
            {
                case TrainStep m:
                    WriteTrainStep(w, m);
                    break;
                case StepLogits m:
                    w.Write(m.GlobalStep); w.Write(m.Attempt); w.Write(m.ModelId); w.Write(m.BatchSize); w.Write(m.Classes);
                    WriteArray<float>(w, m.Logits); w.Write(m.ComputeMs);
                    break;
                case ApplyTargets m:
                    WriteApplyTargets(w, m);
                    break;
                case ApplyAndTrain m:
                    WriteApplyTargets(w, m.Apply);
                    switch (m.Next)
                    {
                        case TrainStep t: w.Write((byte)1); w.Write(Broadcast.GetValue(t, Encode)); break; // the batch's bytes, made once for all students
                        case TrainStepLocal t: w.Write((byte)2); WriteTrainStepLocal(w, t); break;
                        default: throw new ArgumentException($"{nameof(ApplyAndTrain)} cannot carry {m.Next.GetType()}");
                    }
                    break;
                case StepDone m:
                    w.Write(m.GlobalStep); w.Write(m.Attempt); w.Write(m.ModelId);
                    w.Write(m.Loss); w.Write(m.Ce); w.Write(m.Kd); w.Write(m.Ml);
                    w.Write(m.BatchAccuracy); w.Write(m.LearningRate); w.Write(m.Applied); w.Write(m.ComputeMs);
                    break;
                case EvaluateBatch m:
                    w.Write(m.EvalId); w.Write(m.Index);
                    WriteBatch(w, m.Batch);
                    break;
                case EvalProbabilities m:
                    w.Write(m.EvalId); w.Write(m.Index); w.Write(m.ModelId); w.Write(m.Count); w.Write(m.Classes);
                    WriteArray<float>(w, m.Probabilities);
                    break;
                case TrainStepLocal m:
                    WriteTrainStepLocal(w, m);
                    break;
                case EvaluateLocal m:
                    w.Write(m.EvalId);
                    break;
                case ExportWeights m:
                    w.Write(m.ExportId); w.Write(m.FullState);
                    break;
                case StepFailed m:
                    w.Write(m.Attempt); w.Write(m.ModelId); w.Write(m.Reason);
                    break;
                case RestoreChunk m:
                    w.Write(m.ModelId); w.Write(m.Index); w.Write(m.Count);
                    WriteArray(w, m.Data.AsSpan());
                    break;
                case WeightsChunk m:
                    w.Write(m.ExportId); w.Write(m.ModelId); w.Write(m.Index); w.Write(m.Count);
                    WriteArray(w, m.Data.AsSpan());
                    break;
                default:
                    throw new ArgumentException($"{nameof(StepMessageSerializer)} cannot serialize {obj.GetType()}");
            }
        }
        return (int)ms.Position;
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, writable: false));
            object result = manifest switch
            {
                "TS" => ReadTrainStep(r),
                "SL" => ReadLogits(r),
                "EB" => new EvaluateBatch(r.ReadInt64(), r.ReadInt32(), ReadBatch(r, "EB")),
                "EP" => ReadProbabilities(r),
                "TL" => ReadTrainStepLocal(r),
                "SF" => new StepFailed(r.ReadInt64(), r.ReadString(), r.ReadString()),
                "EL" => new EvaluateLocal(r.ReadInt64()),
                "EW" => new ExportWeights(r.ReadInt64(), r.ReadBoolean()),
                "RC" => new RestoreChunk(r.ReadString(), r.ReadInt32(), r.ReadInt32(), ReadArray<byte>(r)),
                "WC" => new WeightsChunk(r.ReadInt64(), r.ReadString(), r.ReadInt32(), r.ReadInt32(), ReadArray<byte>(r)),
                "AT" => ReadApplyTargets(r),
                "SD" => ReadStepDone(r),
                "AN" => ReadApplyAndTrain(r),
                _ => throw new SerializationException($"unknown step-message manifest '{manifest}'"),
            };
            if (r.BaseStream.Position != bytes.Length)
                throw new SerializationException($"{manifest}: {bytes.Length - r.BaseStream.Position} trailing bytes");
            return result;
        }
        catch (EndOfStreamException e)
        {
            throw new SerializationException($"{manifest}: truncated message ({bytes.Length} bytes)", e);
        }
    }

    private static void WriteTrainStep(BinaryWriter w, TrainStep m)
    {
        w.Write(m.GlobalStep); w.Write(m.Attempt); w.Write(m.Epoch); w.Write(m.Step); w.Write(m.WholeStep); w.Write(m.CountedThrough);
        WriteBatch(w, m.Batch);
    }

    private static void WriteTrainStepLocal(BinaryWriter w, TrainStepLocal m)
    {
        w.Write(m.GlobalStep); w.Write(m.Attempt); w.Write(m.Epoch); w.Write(m.Step); w.Write(m.WholeStep); w.Write(m.CountedThrough);
    }

    private static void WriteApplyTargets(BinaryWriter w, ApplyTargets m)
    {
        w.Write(m.GlobalStep); w.Write(m.Attempt);
        WriteOptional(w, m.Targets.TeacherLogits); WriteOptional(w, m.Targets.PeerProbSum); WriteOptional(w, m.Targets.PeerNegEntropySum);
        w.Write(m.Targets.Peers);
    }

    private static TrainStep ReadTrainStep(BinaryReader r)
    {
        var (global, attempt, epoch, step, whole, counted) = (r.ReadInt64(), r.ReadInt64(), r.ReadInt32(), r.ReadInt32(), r.ReadBoolean(), r.ReadInt64());
        return new TrainStep(global, epoch, step, ReadBatch(r, "TS"), attempt, whole, counted);
    }

    private static TrainStepLocal ReadTrainStepLocal(BinaryReader r)
    {
        var (global, attempt, epoch, step, whole, counted) = (r.ReadInt64(), r.ReadInt64(), r.ReadInt32(), r.ReadInt32(), r.ReadBoolean(), r.ReadInt64());
        return new TrainStepLocal(global, epoch, step, attempt, whole, counted);
    }

    private static ApplyAndTrain ReadApplyAndTrain(BinaryReader r)
    {
        var apply = ReadApplyTargets(r);
        IStepMessage next = r.ReadByte() switch
        {
            1 => ReadTrainStep(r),
            2 => ReadTrainStepLocal(r),
            var tag => throw new SerializationException($"AN: unknown next-step tag {tag}"),
        };
        return new ApplyAndTrain(apply, next);
    }

    private static ApplyTargets ReadApplyTargets(BinaryReader r)
    {
        var (global, attempt) = (r.ReadInt64(), r.ReadInt64());
        return new ApplyTargets(global, new DistillTargets(ReadOptional(r), ReadOptional(r), ReadOptional(r), r.ReadInt32()), attempt);
    }

    private static StepDone ReadStepDone(BinaryReader r)
    {
        var (global, attempt, id) = (r.ReadInt64(), r.ReadInt64(), r.ReadString());
        return new StepDone(global, id, r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadBoolean(),
            r.ReadDouble(), attempt);
    }

    private static void WriteBatch(BinaryWriter w, ImageBatch batch)
    {
        w.Write(batch.Shape.Channels); w.Write(batch.Shape.Height); w.Write(batch.Shape.Width);
        WriteArray(w, batch.Pixels.AsSpan());
        WriteArray<int>(w, batch.Labels);
        WriteOptional(w, batch.Boxes);
    }

    private static ImageBatch ReadBatch(BinaryReader r, string manifest)
    {
        var shape = new ImageShape(r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
        if (shape.Channels <= 0 || shape.Height <= 0 || shape.Width <= 0) throw new SerializationException($"{manifest}: bad image shape {shape}");
        var pixels = ReadArray<byte>(r);
        var labels = ReadArray<int>(r);
        if ((long)labels.Length * shape.Pixels != pixels.Length)
            throw new SerializationException($"{manifest}: {pixels.Length} pixel bytes do not hold {labels.Length} images of {shape}");
        var boxes = ReadOptional(r);
        if (boxes is not null)
        {
            try
            {
                BoxCodec.Decode(boxes, labels.Length);
            }
            catch (FormatException e)
            {
                throw new SerializationException($"{manifest}: {e.Message}", e);
            }
        }
        return new ImageBatch(shape, pixels, labels) { Boxes = boxes };
    }

    private static EvalProbabilities ReadProbabilities(BinaryReader r)
    {
        var (evalId, index, id, count, classes) = (r.ReadInt64(), r.ReadInt32(), r.ReadString(), r.ReadInt32(), r.ReadInt32());
        var probs = ReadArray<float>(r);
        if ((long)count * classes != probs.Length) throw new SerializationException($"EP: {probs.Length} probabilities for {count} x {classes}");
        return new EvalProbabilities(evalId, index, id, count, classes, probs);
    }

    private static StepLogits ReadLogits(BinaryReader r)
    {
        var (global, attempt, id, batch, classes) = (r.ReadInt64(), r.ReadInt64(), r.ReadString(), r.ReadInt32(), r.ReadInt32());
        var logits = ReadArray<float>(r);
        if ((long)batch * classes != logits.Length) throw new SerializationException($"SL: {logits.Length} logits for batch {batch} x {classes} classes");
        return new StepLogits(global, id, batch, classes, logits, r.ReadDouble(), attempt);
    }

    private static void WriteArray<T>(BinaryWriter w, ReadOnlySpan<T> values) where T : unmanaged
    {
        w.Write(values.Length);
        w.Write(MemoryMarshal.AsBytes(values));
    }

    private static T[] ReadArray<T>(BinaryReader r) where T : unmanaged
    {
        int n = r.ReadInt32();
        int size = Marshal.SizeOf<T>();
        if (n < 0 || n > MaxArray / size || (long)n * size > r.BaseStream.Length - r.BaseStream.Position)
            throw new SerializationException($"array length {n} does not fit the message");
        var values = new T[n];
        r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    private static void WriteOptional(BinaryWriter w, float[]? values)
    {
        w.Write(values is not null);
        if (values is not null) WriteArray<float>(w, values);
    }

    private static float[]? ReadOptional(BinaryReader r) => r.ReadBoolean() ? ReadArray<float>(r) : null;
}
