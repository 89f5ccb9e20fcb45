using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Support;

/// <summary>Keeps every training event, for assertions.</summary>
public sealed class Recorder : ITrainingObserver
{
    public List<StepRecord> Steps { get; } = [];
    public List<EvalRecord> Evaluations { get; } = [];
    public void OnStep(StepRecord step) => Steps.Add(step);
    public void OnEvaluation(EvalRecord evaluation) => Evaluations.Add(evaluation);
}
