using P2PDistill.Shared.Data;
using P2PDistill.Shared.Tasks;
using P2PDistill.Shared.Training;

namespace P2PDistill.Shared.Export;

/// <summary>
/// A trained model that predicts for uint8 images of its input shape: an export loaded into TorchSharp
/// (<see cref="ExportedModel"/>, from a model card) or an ONNX file run by ONNX Runtime (the coordinator's
/// <c>OnnxRuntimeModel</c>). Both answer with what the model's <see cref="Task"/> makes of its output
/// (<see cref="ITrainingTask.Predictions"/>: class probabilities, or a detector's probability map).
/// </summary>
public interface IImagePredictor : IDisposable
{
    /// <summary>The model card: the card file's, or for an ONNX file the card recorded in its metadata.</summary>
    ModelCard Card { get; }

    /// <summary>The file the model was loaded from (the card's .json, or the .onnx).</summary>
    string CardPath { get; }

    /// <summary>What runs the model: "TorchSharp" or "ONNX Runtime".</summary>
    string Engine { get; }

    ImageShape InputShape { get; }
    IReadOnlyList<string> ClassNames { get; }
    int NumClasses { get; }
    ITrainingTask Task { get; }

    /// <summary>Floats <see cref="Predict(ImageBatch)"/> returns per image (classification: C; detection: L·(C + 4B)).</summary>
    int OutputsPerImage { get; }

    /// <summary>The task's predictions, row-major, <see cref="OutputsPerImage"/> per image, for a batch of uint8 images of <see cref="InputShape"/>.</summary>
    float[] Predict(ImageBatch batch);
}

public static class ImagePredictors
{
    /// <summary>Refuses a batch of another shape than the model's input, naming the model and its file.</summary>
    public static void CheckBatch(this IImagePredictor model, ImageBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Shape != model.InputShape)
            throw new ArgumentException($"Model '{model.Card.ModelId}' ({model.CardPath}) takes {model.InputShape} images, the batch holds {batch.Shape}.", nameof(batch));
    }

    /// <summary>The predictions (as <see cref="IImagePredictor.Predict(ImageBatch)"/>) for every image of <paramref name="dataset"/>, in order.</summary>
    public static float[] PredictAll(this IImagePredictor model, IImageDataset dataset, int batchSize = 128)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var result = new float[(long)dataset.Count * model.OutputsPerImage];
        int offset = 0;
        foreach (var indices in BatchPlan.InOrder(dataset.Count, batchSize).Batches(0))
        {
            var predictions = model.Predict(BatchBuilder.Build(dataset, indices));
            predictions.CopyTo(result, offset);
            offset += predictions.Length;
        }
        return result;
    }
}
