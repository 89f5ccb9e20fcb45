using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
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
    /// <summary>The frame no message read may exceed (<see cref="WireLimits"/>), from the actor system's settings.</summary>
    private readonly WireLimits limits = WireLimits.Of(system);

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
        if (bytes.Length > limits.FrameBytes)
            throw new SerializationException($"{manifest}: {bytes.Length:N0} bytes, more than the remoting frame of {limits.FrameBytes:N0} bytes");
        var r = new FrameReader(bytes, manifest);
        try
        {
            object result = manifest switch
            {
                "TS" => ReadTrainStep(r),
                "SL" => ReadLogits(r),
                "EB" => new EvaluateBatch(r.Int64("EvalId"), r.Int32("Index"), ReadBatch(r)),
                "EP" => ReadProbabilities(r),
                "TL" => ReadTrainStepLocal(r),
                "SF" => new StepFailed(r.Int64("Attempt"), r.String("ModelId"), r.String("Reason")),
                "EL" => new EvaluateLocal(r.Int64("EvalId")),
                "EW" => new ExportWeights(r.Int64("ExportId"), r.Boolean("FullState")),
                "RC" => new RestoreChunk(r.String("ModelId"), r.Int32("Index"), r.Int32("Count"), r.Array<byte>("Data")),
                "WC" => new WeightsChunk(r.Int64("ExportId"), r.String("ModelId"), r.Int32("Index"), r.Int32("Count"), r.Array<byte>("Data")),
                "AT" => ReadApplyTargets(r),
                "SD" => ReadStepDone(r),
                "AN" => ReadApplyAndTrain(r),
                _ => throw new SerializationException($"unknown step-message manifest '{manifest}'"),
            };
            if (r.Left > 0) throw new SerializationException($"{manifest}: {r.Left} trailing bytes");
            return result;
        }
        catch (Exception e) when (e is not SerializationException)
        {
            // A record's own check (none today): still one message refused, never the association.
            throw new SerializationException($"{manifest}: malformed message ({bytes.Length} bytes): {e.Message}", e);
        }
    }

    private static TrainStep ReadTrainStep(FrameReader r)
    {
        var (global, attempt, epoch, step, whole, counted) =
            (r.Int64("GlobalStep"), r.Int64("Attempt"), r.Int32("Epoch"), r.Int32("Step"), r.Boolean("WholeStep"), r.Int64("CountedThrough"));
        return new TrainStep(global, epoch, step, ReadBatch(r), attempt, whole, counted);
    }

    private static TrainStepLocal ReadTrainStepLocal(FrameReader r)
    {
        var (global, attempt, epoch, step, whole, counted) =
            (r.Int64("GlobalStep"), r.Int64("Attempt"), r.Int32("Epoch"), r.Int32("Step"), r.Boolean("WholeStep"), r.Int64("CountedThrough"));
        return new TrainStepLocal(global, epoch, step, attempt, whole, counted);
    }

    private static ApplyAndTrain ReadApplyAndTrain(FrameReader r)
    {
        var apply = ReadApplyTargets(r);
        IStepMessage next = r.Byte("Next") switch
        {
            1 => ReadTrainStep(r),
            2 => ReadTrainStepLocal(r),
            var tag => throw r.Bad("Next", $"unknown next-step tag {tag}"),
        };
        return new ApplyAndTrain(apply, next);
    }

    private static ApplyTargets ReadApplyTargets(FrameReader r)
    {
        var (global, attempt) = (r.Int64("GlobalStep"), r.Int64("Attempt"));
        var (teacher, peers, entropy) = (r.Optional("TeacherLogits"), r.Optional("PeerProbSum"), r.Optional("PeerNegEntropySum"));
        return new ApplyTargets(global, new DistillTargets(teacher, peers, entropy, r.Count("Peers")), attempt);
    }

    private static StepDone ReadStepDone(FrameReader r)
    {
        var (global, attempt, id) = (r.Int64("GlobalStep"), r.Int64("Attempt"), r.String("ModelId"));
        return new StepDone(global, id, r.Double("Loss"), r.Double("Ce"), r.Double("Kd"), r.Double("Ml"), r.Double("BatchAccuracy"), r.Double("LearningRate"),
            r.Boolean("Applied"), r.Double("ComputeMs"), attempt);
    }

    /// <summary>
    /// A batch: its shape (each side positive; the pixels of an image are counted in <c>long</c>, so 1x65536x65536 cannot wrap
    /// to 0), pixels, labels (none negative), and boxes checked against the image count.
    /// </summary>
    private static ImageBatch ReadBatch(FrameReader r)
    {
        var shape = new ImageShape(r.Int32("Shape.Channels"), r.Int32("Shape.Height"), r.Int32("Shape.Width"));
        if (shape.Channels <= 0 || shape.Height <= 0 || shape.Width <= 0) throw r.Bad("Shape", $"bad image shape {shape}");
        long image = (long)shape.Height * shape.Width; // at most 2^62, and at most 2^62 again once multiplied below
        if (image > Array.MaxLength || image * shape.Channels > Array.MaxLength)
            throw r.Bad("Shape", $"an image of {shape} has more pixels than an array can hold");
        image *= shape.Channels;
        var pixels = r.Array<byte>("Pixels");
        var labels = r.Array<int>("Labels");
        if (labels.Length * image != pixels.Length)
            throw r.Bad("Pixels", $"{pixels.Length} pixel bytes do not hold {labels.Length} images of {shape}");
        foreach (int label in labels)
            if (label < 0) throw r.Bad("Labels", $"label {label} is negative");
        var boxes = r.Optional("Boxes");
        if (boxes is not null)
        {
            try
            {
                BoxCodec.Decode(boxes, labels.Length);
            }
            catch (FormatException e)
            {
                throw new SerializationException($"{r.Manifest}: {e.Message}", e);
            }
        }
        return new ImageBatch(shape, pixels, labels) { Boxes = boxes };
    }

    private static EvalProbabilities ReadProbabilities(FrameReader r)
    {
        var (evalId, index, id, count, classes) = (r.Int64("EvalId"), r.Int32("Index"), r.String("ModelId"), r.Count("Count"), r.Count("Classes"));
        var probs = r.Array<float>("Probabilities");
        if ((long)count * classes != probs.Length) throw r.Bad("Probabilities", $"{probs.Length} probabilities for {count} x {classes}");
        return new EvalProbabilities(evalId, index, id, count, classes, probs);
    }

    private static StepLogits ReadLogits(FrameReader r)
    {
        var (global, attempt, id, batch, classes) = (r.Int64("GlobalStep"), r.Int64("Attempt"), r.String("ModelId"), r.Count("BatchSize"), r.Count("Classes"));
        var logits = r.Array<float>("Logits");
        if ((long)batch * classes != logits.Length) throw r.Bad("Logits", $"{logits.Length} logits for batch {batch} x {classes} classes");
        return new StepLogits(global, id, batch, classes, logits, r.Double("ComputeMs"), attempt);
    }

    /// <summary>
    /// One frame, read field by field, each named in the <see cref="SerializationException"/> that refuses it. Every length is
    /// compared with the bytes left before anything is allocated, so no array or string outgrows the frame it came in.
    /// </summary>
    private sealed class FrameReader(byte[] bytes, string manifest)
    {
        private int position;

        public string Manifest => manifest;

        /// <summary>Bytes not read yet.</summary>
        public int Left => bytes.Length - position;

        public SerializationException Bad(string field, string why) => new($"{manifest}: {field}: {why}");

        private ReadOnlySpan<byte> Take(int n, string field)
        {
            if (n > Left) throw Bad(field, $"needs {n} bytes, {Left} left: truncated message ({bytes.Length} bytes)");
            var span = bytes.AsSpan(position, n);
            position += n;
            return span;
        }

        public byte Byte(string field) => Take(1, field)[0];
        public bool Boolean(string field) => Byte(field) != 0;
        public int Int32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));
        public long Int64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));
        public double Double(string field) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, field));

        /// <summary>A count of things (images, classes, peers): never negative.</summary>
        public int Count(string field)
        {
            int n = Int32(field);
            return n >= 0 ? n : throw Bad(field, $"negative count {n}");
        }

        /// <summary><see cref="BinaryWriter"/>'s string: its UTF-8 byte count as a 7-bit encoded integer of at most 5 bytes, then the bytes.</summary>
        public string String(string field)
        {
            uint length = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (shift > 28) throw Bad(field, "the string length is not a 7-bit encoded integer of at most 5 bytes");
                byte b = Byte(field);
                length |= (uint)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) break;
            }
            if (length > (uint)Left) throw Bad(field, $"string length {(int)length} does not fit the {Left} bytes left");
            return Encoding.UTF8.GetString(Take((int)length, field));
        }

        /// <summary>A length, then that many values' raw bytes.</summary>
        public T[] Array<T>(string field) where T : unmanaged
        {
            int n = Int32(field);
            int size = Unsafe.SizeOf<T>();
            if (n < 0 || (long)n * size > Left) throw Bad(field, $"array length {n} does not fit the message ({Left} bytes left)");
            return MemoryMarshal.Cast<byte, T>(Take(n * size, field)).ToArray();
        }

        /// <summary>A presence flag, then, when set, an array of floats.</summary>
        public float[]? Optional(string field) => Boolean(field) ? Array<float>(field) : null;
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

    private static void WriteBatch(BinaryWriter w, ImageBatch batch)
    {
        w.Write(batch.Shape.Channels); w.Write(batch.Shape.Height); w.Write(batch.Shape.Width);
        WriteArray(w, batch.Pixels.AsSpan());
        WriteArray<int>(w, batch.Labels);
        WriteOptional(w, batch.Boxes);
    }

    private static void WriteArray<T>(BinaryWriter w, ReadOnlySpan<T> values) where T : unmanaged
    {
        w.Write(values.Length);
        w.Write(MemoryMarshal.AsBytes(values));
    }

    private static void WriteOptional(BinaryWriter w, float[]? values)
    {
        w.Write(values is not null);
        if (values is not null) WriteArray<float>(w, values);
    }
}
