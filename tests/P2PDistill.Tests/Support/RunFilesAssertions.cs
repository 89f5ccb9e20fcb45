namespace P2PDistill.Tests.Support;

/// <summary>What the tests check of a run directory's rows (<see cref="RunFiles"/>).</summary>
public static class RunFilesAssertions
{
    /// <summary>Every step from 1 to <paramref name="steps"/> recorded, each model at most once per step: no gap, no duplicate.</summary>
    public static Dictionary<long, List<string>> AssertEveryStepOnce(this RunFiles files, long steps)
    {
        var perStep = files.ModelsPerStep();
        Assert.Equal(Enumerable.Range(1, (int)steps).Select(i => (long)i), perStep.Keys.Order());
        Assert.All(perStep, kv => Assert.True(kv.Value.Count == kv.Value.Distinct().Count(), $"step {kv.Key} has a duplicated row: {string.Join(", ", kv.Value)}"));
        return perStep;
    }
}
