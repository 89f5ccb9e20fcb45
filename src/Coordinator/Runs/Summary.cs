using System.Globalization;
using System.Text;
using P2PDistill.Shared.Losses;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Runs;

/// <summary>The short Markdown summary printed at the end of a run and saved as summary.md.</summary>
public static class Summary
{
    /// <param name="resumedFrom">The checkpoint's step a resumed run went on from (0: the run never stopped); the time and
    /// throughput then are those of the steps after it, the steps and evaluations the whole run's.</param>
    public static string Markdown(CohortResult result, TrainingOptions t, string dataset, long resumedFrom = 0)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine("# P2PDistill run summary");
        sb.AppendLine();
        int students = result.Final?.Models.Count(m => m.Role == ModelRole.Student) ?? t.Students;
        sb.Append(inv, $"- dataset: {dataset}; teacher {t.TeacherModel}, {t.StudentsDescription(students)}; mode {t.Distillation.Mode.Name()}; " +
                       $"alpha {t.Alpha}, beta {t.Beta}, T_kd {t.Distillation.TemperatureKd}, T_ml {t.Distillation.TemperatureMl}");
        if (t.RampUpEpochs > 0) sb.Append(inv, $"; alpha and beta ramped up over {t.RampUpEpochs} epochs");
        sb.AppendLine();
        if (resumedFrom > 0)
        {
            long resumed = Math.Max(0, result.Steps - resumedFrom);
            double rate = result.Seconds > 0 ? resumed * (double)t.BatchSize / result.Seconds : 0;
            sb.AppendLine(inv, $"- {result.Steps} steps of batch {t.BatchSize}; resumed after step {resumedFrom}, then {resumed} steps in {result.Seconds:F1} s ({rate:F0} images/s)");
        }
        else
        {
            sb.AppendLine(inv, $"- {result.Steps} steps of batch {t.BatchSize} in {result.Seconds:F1} s ({result.ImagesPerSecond:F0} images/s)");
        }
        if (!result.Completed) sb.AppendLine(inv, $"- **stopped early**: {result.StopReason}");
        var final = result.Final;
        if (final is null)
        {
            sb.AppendLine("- no evaluation was made");
            return sb.ToString();
        }
        sb.AppendLine();
        sb.AppendLine(inv, $"Test metrics after epoch {final.Epoch + 1}:");
        sb.AppendLine();
        Table(sb, final);
        if (result.BestOnVal is { } best)
        {
            var scored = best.Val!.StudentEnsemble ?? best.Val.Models[0].Metrics;
            var by = $"{(best.Val.StudentEnsemble is null ? best.Val.Models[0].Id : "student-ensemble")} {scored.ScoreName}";
            sb.AppendLine();
            sb.AppendLine(inv, $"Best epoch on the validation split: {best.Epoch + 1} ({by} {best.Val.Score:F4} on val). Test metrics at that epoch:");
            sb.AppendLine();
            Table(sb, best);
        }
        return sb.ToString();
    }

    private static void Table(StringBuilder sb, EvalRecord evaluation)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = evaluation.Models.Select(m => (m.Id, m.Metrics))
            .Concat(evaluation.StudentEnsemble is null ? [] : [("student-ensemble", evaluation.StudentEnsemble)]).ToList();
        if (rows.Count == 0) return;
        var titles = rows[0].Metrics.TableColumns.Select(c => c.Title).ToList();
        sb.AppendLine($"| model | {string.Join(" | ", titles)} |");
        sb.AppendLine($"|---|{string.Concat(titles.Select(_ => "---|"))}");
        foreach (var (id, m) in rows)
            sb.AppendLine(inv, $"| {id} | {string.Join(" | ", m.TableColumns.Select(c => c.Value is { } v ? v.ToString(c.Format, inv) : ""))} |");
    }
}
