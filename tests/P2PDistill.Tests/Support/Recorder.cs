using P2PDistill.Shared.Training;

namespace P2PDistill.Tests.Support;

/// <summary>Keeps every training event, for assertions.</summary>
public sealed class Recorder : ITrainingObserver
{
    public List<StepRecord> Steps { get; } = [];
    public List<EvalRecord> Evaluations { get; } = [];
    public void OnStep(StepRecord step) => Steps.Add(step);
    public void OnEvaluation(EvalRecord evaluation) => Evaluations.Add(evaluation);

    /// <summary>Asserts that <paramref name="actual"/> recorded the same steps, models and loss parts as this recorder, within <paramref name="tolerance"/>.</summary>
    public void AssertSameLosses(Recorder actual, double tolerance = 1e-5)
    {
        Assert.Equal(Steps.Count, actual.Steps.Count);
        for (int s = 0; s < Steps.Count; s++)
        {
            var expected = Steps[s].Models.ToDictionary(m => m.Id);
            Assert.Equal(expected.Keys.Order(), actual.Steps[s].Models.Select(m => m.Id).Order());
            foreach (var m in actual.Steps[s].Models)
            {
                Assert.Equal(expected[m.Id].Loss.Total, m.Loss.Total, tolerance);
                Assert.Equal(expected[m.Id].Loss.Ce, m.Loss.Ce, tolerance);
                Assert.Equal(expected[m.Id].Loss.Kd, m.Loss.Kd, tolerance);
                Assert.Equal(expected[m.Id].Loss.Ml, m.Loss.Ml, tolerance);
            }
        }
    }
}
