using P2PDistill.Shared.Runs;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.Metrics;

[Trait("Category", "Unit")]
public sealed class MetricsWriterSpecs : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private string Metrics(string file) => Path.Combine(dir.Path, "metrics", file);

    /// <summary>
    /// Review of issue 16: a kill while a row was written leaves it torn, without its newline. Torn inside global_step
    /// ("...,12" of 123) it read as step 12, before the checkpoint, and survived the resume; a row cut short elsewhere kept
    /// too few columns. The last line without its newline, and any row whose columns are not the header's, are dropped.
    /// </summary>
    [Fact]
    public void Should_drop_a_row_torn_by_a_kill_when_cutting_the_metrics_back_to_a_checkpoint()
    {
        Directory.CreateDirectory(Path.Combine(dir.Path, "metrics"));
        string[] whole =
        [
            MetricsWriter.StepsCsvHeader,
            "1,1,1,teacher,teacher,2.5,2.5,0,0,0.25,0.001,10,0.5",
            "1,2,2,teacher,teacher,2.4,2.4,0,0,0.25,0.001,10,0.5",
        ];
        File.WriteAllText(Metrics("steps.csv"), string.Join("\n", whole) + "\n" + "3,1,12"); // step 123, torn after "12"
        File.WriteAllText(Metrics("eval.csv"), MetricsWriter.EvalCsvHeader + "\n" + "1,2,teacher,teacher,0.5,0.4,0.7,,,,test\n" + "1,2,teacher,teacher\n");
        File.WriteAllText(Metrics("steps.jsonl"), "{\"global_step\":1}\n{\"global_step\":2}\n{\"global_step\":1");

        MetricsWriter.TruncateAfter(dir.Path, 100);

        Assert.Equal(whole, File.ReadAllLines(Metrics("steps.csv")));
        Assert.Equal([MetricsWriter.EvalCsvHeader, "1,2,teacher,teacher,0.5,0.4,0.7,,,,test"], File.ReadAllLines(Metrics("eval.csv")));
        Assert.Equal(["{\"global_step\":1}", "{\"global_step\":2}"], File.ReadAllLines(Metrics("steps.jsonl")));
    }
}
