using Microsoft.Extensions.Logging.Abstractions;
using P2PDistill.Coordinator.Runs;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Onnx;
using P2PDistill.Tests.Data;

namespace P2PDistill.Tests.Onnx;

/// <summary>The compression report: every figure beside its ratio to the teacher's, measured from real ONNX files.</summary>
[Trait("Category", "Unit")]
[Collection(TrainedOnnxModelsCollection.Name)]
public sealed class CompressionReportSpecs(TrainedOnnxModels models) : IDisposable
{
    private static readonly LatencyBudget Quick = new(MinRuns: 2, MaxRuns: 3, MinSeconds: 0, MaxSeconds: 0.5);
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Should_give_each_figure_with_its_ratio_to_the_teacher_and_na_for_what_is_missing()
    {
        var rows = new[]
        {
            new CompressionRow("teacher", "teacher", "cnn-teacher", 800_000, 3 << 20, 20_000_000, 0.5, 0.25, [new("accuracy", 0.90), new("ROC-AUC", 0.95)]),
            new CompressionRow("student-1", "student", "cnn-student", 100_000, 3 << 18, 1_000_000, 0.1, 0.025, [new("accuracy", 0.81), new("ROC-AUC", 0.95)]),
            new CompressionRow("student-2", "student", "constant", 40, null, null, null, null, []),
        };

        var markdown = CompressionReport.Markdown(rows, LatencyBudget.Default);

        Assert.Contains("| model | architecture | parameters | ONNX file | MACs/image | ms/image, batch 1 | ms/image, batch 32 | accuracy | ROC-AUC |", markdown);
        Assert.Contains("| teacher | cnn-teacher | 800.0 K (1.00×) | 3.00 MiB (1.00×) | 20.00 M (1.00×) | 0.500 ms (1.00×) | 0.250 ms (1.00×) | 0.9000 (1.00×) | 0.9500 (1.00×) |", markdown);
        Assert.Contains("| student-1 | cnn-student | 100.0 K (0.12×) | 768.0 KiB (0.25×) | 1.00 M (0.05×) | 0.100 ms (0.20×) | 0.0250 ms (0.10×) | 0.8100 (0.90×) | 0.9500 (1.00×) |", markdown);
        Assert.Contains("| student-2 | constant | 40 (0.00×) | n/a | n/a | n/a | n/a | n/a | n/a |", markdown);
        Assert.Contains("1 thread, at batch 1 and at batch 32", markdown);
    }

    [Fact]
    public void Should_measure_the_onnx_files_of_a_run_and_write_the_report_beside_them()
    {
        // The fixture's exports (all students) with cnn-teacher in the teacher's role, copied to a run's models folder.
        var folder = dir.CreateDirectory("models");
        ExportResult Copy(string architecture, string role)
        {
            var e = models.Export(architecture);
            foreach (var f in e.Paths) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
            return e with
            {
                Card = e.Card with { Role = role },
                CardPath = Path.Combine(folder, Path.GetFileName(e.CardPath)),
                OnnxPath = Path.Combine(folder, Path.GetFileName(e.OnnxPath!)),
            };
        }
        var exports = new[] { Copy("cnn-student", "student"), Copy("cnn-teacher", "teacher"), Copy("tiny", "student") };
        var ensemble = Path.Combine(folder, "ensemble.onnx");
        using (var a = ExportedModel.Load(exports[0].CardPath))
        using (var b = ExportedModel.Load(exports[2].CardPath))
            OnnxExporter.Write(OnnxExporter.BuildEnsemble([(a.Network, a.Card), (b.Network, b.Card)]), ensemble);

        var section = CompressionReport.Write(folder, exports, ensemble, final: null, NullLogger.Instance, Quick);

        Assert.NotNull(section);
        Assert.StartsWith("## Compression", section);
        var report = File.ReadAllText(Path.Combine(folder, CompressionReport.MarkdownFileName));
        var lines = report.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, lines.Count); // header, teacher first, the two students, the ensemble
        Assert.StartsWith("| teacher-cnn-teacher |", lines[1].Replace("student-cnn-teacher", "teacher-cnn-teacher"));
        Assert.StartsWith("| student-ensemble | 2 × cnn-student, tiny |", lines[4]);
        var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, CompressionReport.JsonFileName)));
        var rows = json.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(4, rows.Count);
        foreach (var (row, export) in rows.Take(3).Zip(new[] { exports[1], exports[0], exports[2] }))
        {
            Assert.Equal(export.Card.ParameterCount, row.GetProperty("parameters").GetInt64());
            Assert.Equal(new FileInfo(export.OnnxPath!).Length, row.GetProperty("onnx_bytes").GetInt64());
            var macs = OnnxExporter.MetadataOf(OnnxExporter.Read(export.OnnxPath!))[OnnxExporter.MetadataPrefix + OnnxExporter.MacsKey];
            Assert.Equal(long.Parse(macs, System.Globalization.CultureInfo.InvariantCulture), row.GetProperty("macs_per_image").GetInt64());
            Assert.True(row.GetProperty("ms_per_image_batch1").GetDouble() > 0);
            Assert.True(row.GetProperty("ms_per_image_batch32").GetDouble() > 0);
        }
        Assert.Equal(exports[0].Card.ParameterCount + exports[2].Card.ParameterCount, rows[3].GetProperty("parameters").GetInt64());
    }
}
