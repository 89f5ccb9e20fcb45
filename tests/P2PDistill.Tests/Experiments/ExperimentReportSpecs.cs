using P2PDistill.Coordinator.Experiments;

namespace P2PDistill.Tests.Experiments;

/// <summary>The experiment's aggregation: mean ± sample std over seeds, grouping, the table and the verdict.</summary>
[Trait("Category", "Unit")]
public sealed class ExperimentReportSpecs
{
    private static ExperimentRow Row(string mode, long seed, double ensemble, double teacher = 0.9, double[]? students = null, int n = 2, double? t = 1) =>
        new(new ExperimentKey(n, mode == "independent" ? null : t, mode, seed), 1, 10, 1, teacher, students ?? Enumerable.Repeat(ensemble - 0.01, n).ToArray(), ensemble);

    private static ExperimentGroup Group(IEnumerable<ExperimentRow> rows, double t = 1) =>
        ExperimentReport.Aggregate(rows, ExperimentMetrics.Classification, [2], [t], ["independent", "kd", "ml", "kd-ml"], [1, 2, 3]).Single();

    [Fact]
    public void Should_compute_the_mean_and_the_sample_standard_deviation()
    {
        var s = MeanStd.Of([0.80, 0.82, 0.84]);
        Assert.Equal(0.82, s.Mean, 12);
        Assert.Equal(0.02, s.Std, 12); // sample std (n - 1); the population std would be 0.01633
        Assert.Equal("0.8200 ± 0.0200", s.Format());
    }

    [Fact]
    public void Should_have_no_spread_for_a_single_seed()
    {
        var s = MeanStd.Of([0.8]);
        Assert.True(double.IsNaN(s.Std));
        Assert.Equal("0.8000", s.Format());
        Assert.True(double.IsNaN(MeanStd.Of([]).Mean));
    }

    [Fact]
    public void Should_average_each_mode_over_its_seeds_and_each_student_slot_separately()
    {
        var rows = new[]
        {
            Row("kd", 1, 0.80, teacher: 0.90, students: [0.70, 0.74]),
            Row("kd", 2, 0.84, teacher: 0.92, students: [0.72, 0.78]),
            Row("kd-ml", 1, 0.86),
        };
        var g = Group(rows);
        Assert.Equal(["kd", "kd-ml"], g.Modes.Select(m => m.Mode));
        var kd = g["kd"]!;
        Assert.Equal(2, kd.Seeds);
        Assert.Equal(0.91, kd.Teacher.Mean, 12);
        Assert.Equal(0.71, kd.Students[0].Mean, 12);
        Assert.Equal(0.76, kd.Students[1].Mean, 12);
        Assert.Equal((0.72 + 0.75) / 2, kd.StudentMean.Mean, 12);
        Assert.Equal(0.82, kd.Ensemble.Mean, 12);
        Assert.Equal(Math.Sqrt(0.0008), kd.Ensemble.Std, 12);
        Assert.Equal(1, g["kd-ml"]!.Seeds);
    }

    [Fact]
    public void Should_share_independent_runs_across_temperatures_and_keep_other_temperatures_apart()
    {
        var rows = new[] { Row("independent", 1, 0.70), Row("kd", 1, 0.80, t: 1), Row("kd", 1, 0.60, t: 4) };
        var groups = ExperimentReport.Aggregate(rows, ExperimentMetrics.Classification, [2], [1, 4], ["independent", "kd"], [1]);
        Assert.Equal(0.70, groups[0]["independent"]!.Ensemble.Mean, 12);
        Assert.Equal(0.70, groups[1]["independent"]!.Ensemble.Mean, 12);
        Assert.Equal(0.80, groups[0]["kd"]!.Ensemble.Mean, 12);
        Assert.Equal(0.60, groups[1]["kd"]!.Ensemble.Mean, 12);
    }

    [Fact]
    public void Should_leave_out_seeds_modes_and_sizes_that_were_not_asked_for()
    {
        var rows = new[] { Row("kd", 1, 0.80), Row("kd", 9, 0.10), Row("ml", 1, 0.5), Row("kd", 1, 0.3, n: 4) };
        var g = ExperimentReport.Aggregate(rows, ExperimentMetrics.Classification, [2], [1], ["kd"], [1, 2]).Single();
        Assert.Equal("kd", Assert.Single(g.Modes).Mode);
        Assert.Equal(0.80, g["kd"]!.Ensemble.Mean, 12);
    }

    [Fact]
    public void Should_write_one_table_row_per_mode_with_a_column_per_student()
    {
        var g = Group([Row("ml", 1, 0.80), Row("ml", 2, 0.82), Row("independent", 1, 0.75)]);
        var table = ExperimentReport.Table(g);
        var lines = table.TrimEnd().Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("| mode | seeds | teacher | student-1 | student-2 | student mean | student ensemble |", lines[0]);
        Assert.StartsWith("| independent | 1 |", lines[2]); // the paper's order: independent before ml
        Assert.Contains("| ml | 2 |", lines[3]);
        Assert.Contains("**0.8100 ± 0.0141**", lines[3]);
    }

    [Fact]
    public void Should_say_yes_significantly_when_kd_ml_beats_both_on_every_seed()
    {
        // Differences per seed (kd-ml − kd): +1.0, +1.2, +0.8 points; (kd-ml − ml): +1.5 on every seed.
        var rows = new[] { (1, 0.000), (2, 0.002), (3, -0.002) }.SelectMany(x => new[]
        {
            Row("kd", x.Item1, 0.850 + 0.001 * x.Item1), Row("ml", x.Item1, 0.845 + 0.001 * x.Item1 + x.Item2),
            Row("kd-ml", x.Item1, 0.860 + 0.001 * x.Item1 + x.Item2),
        });
        var verdict = ExperimentReport.Verdict(Group(rows));
        Assert.Contains("? yes, significantly (paired t-test, p < 0.05 against each).", verdict);
        // mean +1.00, sd of (1.0, 1.2, 0.8) = 0.2, SE = 0.2/√3 = 0.1155, t(2) = 8.66, p = 0.0131
        Assert.Contains("beats kd's by 1.00 points (0.8620 vs 0.8520; paired over 3 seeds: +1.00 ± 0.12 points (SE), t(2) = 8.66, p = 0.0131)", verdict);
        Assert.Contains("beats ml's by 1.50 points", verdict);
        Assert.Contains("t(2) = +∞, p < 0.0001", verdict); // the same difference on every seed
    }

    [Fact]
    public void Should_say_not_significantly_when_the_seeds_disagree_about_the_sign()
    {
        // kd-ml − kd: +2, −1, +0.5 points: mean +0.5, sd 1.5, SE 0.866, t(2) = 0.577, p = 0.622.
        var deltas = new[] { 0.02, -0.01, 0.005 };
        var rows = new[] { 1, 2, 3 }.SelectMany(s => new[]
        {
            Row("kd", s, 0.80), Row("ml", s, 0.79), Row("kd-ml", s, 0.80 + deltas[s - 1]),
        });
        var verdict = ExperimentReport.Verdict(Group(rows));
        Assert.Contains("? yes on the mean, but not significantly (p ≥ 0.05 against at least one).", verdict);
        Assert.Contains("t(2) = 0.58, p = 0.6220", verdict);
    }

    [Fact]
    public void Should_say_no_when_kd_ml_trails_one_of_them_significantly()
    {
        var rows = new[] { 1, 2, 3 }.SelectMany(s => new[] { Row("kd", s, 0.90 + 0.001 * s), Row("ml", s, 0.80), Row("kd-ml", s, 0.85 + 0.0012 * s) });
        var verdict = ExperimentReport.Verdict(Group(rows));
        Assert.Contains("? no: it is significantly behind (p < 0.05).", verdict);
        Assert.Contains("trails kd's by 4.96 points", verdict);
        Assert.Contains("beats ml's", verdict);
    }

    [Fact]
    public void Should_say_when_kd_ml_trails_without_significance()
    {
        var deltas = new[] { -0.02, 0.01, -0.005 };
        var rows = new[] { 1, 2, 3 }.SelectMany(s => new[] { Row("kd", s, 0.80), Row("ml", s, 0.78 + 0.001 * s), Row("kd-ml", s, 0.80 + deltas[s - 1]) });
        var verdict = ExperimentReport.Verdict(Group(rows));
        Assert.Contains("? no on the mean, and where it trails the difference is not significant.", verdict);
        Assert.Contains("trails kd's by 0.50 points", verdict);
    }

    [Fact]
    public void Should_not_test_with_one_seed_and_give_no_verdict_without_the_modes()
    {
        var one = ExperimentReport.Verdict(Group([Row("kd", 1, 0.80), Row("kd-ml", 1, 0.85)]));
        Assert.Contains("yes on the mean, but with one seed there is no test of it", one);
        Assert.Contains("one seed in common, so no paired test", one);

        var behind = ExperimentReport.Verdict(Group([Row("ml", 1, 0.85), Row("kd-ml", 1, 0.80)]));
        Assert.Contains("? no on the mean (one seed: no test).", behind);

        var apart = ExperimentReport.Verdict(Group([Row("kd", 1, 0.80), Row("kd-ml", 2, 0.85)]));
        Assert.Contains("has no seed in common with kd, so no paired test", apart);

        var none = ExperimentReport.Verdict(Group([Row("kd", 1, 0.80), Row("independent", 1, 0.85)]));
        Assert.Contains("no verdict", none);
    }

    [Theory]
    [InlineData(2.0, 4, 0.116117)]      // Student's t tables
    [InlineData(2.776445, 4, 0.05)]
    [InlineData(2.228139, 10, 0.05)]
    [InlineData(1.0, 1, 0.5)]           // Cauchy: 2 (1/2 − atan(1)/π)
    [InlineData(12.706205, 1, 0.05)]
    [InlineData(0.0, 7, 1.0)]
    [InlineData(-3.499483, 7, 0.01)]
    public void Should_give_the_two_sided_p_value_of_students_t(double t, int df, double expected)
    {
        Assert.Equal(expected, PairedTest.TwoSidedP(t, df), 5);
    }

    [Fact]
    public void Should_compute_the_paired_statistics_by_hand()
    {
        var test = PairedTest.Of([0.86, 0.872, 0.858], [0.85, 0.86, 0.85]); // differences 1.0, 1.2, 0.8 points

        Assert.Equal(3, test.Pairs);
        Assert.Equal(0.01, test.MeanDifference, 12);
        Assert.Equal(0.002 / Math.Sqrt(3), test.StandardError, 12);
        Assert.Equal(0.01 / (0.002 / Math.Sqrt(3)), test.T, 9);
        Assert.InRange(test.PValue, 0.0130, 0.0132);
        Assert.Throws<ArgumentException>(() => PairedTest.Of([1.0], [1.0, 2.0]));
    }

    [Fact]
    public void Should_round_trip_a_row_through_csv_and_refuse_a_torn_line()
    {
        var row = new ExperimentRow(new ExperimentKey(4, 2.5, "kd-ml", 3), 5, 2340, 812.4, 0.9012, [0.85, 0.86, 0.87, 0.1 + 0.2], 0.8877);
        var back = ExperimentRow.FromCsv(row.ToCsv());
        Assert.Equal(row.Key, back.Key);
        Assert.Equal(row.Students, back.Students); // "R" keeps every bit
        Assert.Equal((row.Teacher, row.Ensemble, row.Steps), (back.Teacher, back.Ensemble, back.Steps));

        var independent = new ExperimentRow(ExperimentKey.For(2, 4, "independent", 1), 1, 1, 1, 0.5, [0.4, 0.6], 0.55);
        Assert.Null(ExperimentRow.FromCsv(independent.ToCsv()).Key.Temperature);

        var csv = row.ToCsv();
        Assert.Throws<FormatException>(() => ExperimentRow.FromCsv(csv[..(csv.Length / 2)]));
    }
}

/// <summary>The experiment's options: a mixed cohort and a ramp-up reach every run and the report.</summary>
[Trait("Category", "Unit")]
public sealed class ExperimentOptionSpecs
{
    [Fact]
    public void Should_take_a_mixed_cohort_and_a_ramp_up_into_the_report()
    {
        var plan = P2PDistill.Coordinator.Commands.ExperimentCommand.Parse(P2PDistill.Coordinator.Commands.ExperimentCommand.Create()
            .Parse(["--dataset", "synthetic", "--student-models", "tiny, mlp", "--rampup-epochs", "2", "--modes", "kd-ml"]));

        var report = P2PDistill.Coordinator.Commands.ExperimentCommand.Report(plan, []);

        Assert.Contains("students tiny, mlp;", report);
        Assert.Contains("ramped up over 2 epochs", report);
    }

    [Fact]
    public void Should_refuse_an_unknown_student_model_in_the_list()
    {
        var e = Assert.Throws<P2PDistill.Coordinator.Commands.CommandInputException>(() => P2PDistill.Coordinator.Commands.ExperimentCommand.Parse(
            P2PDistill.Coordinator.Commands.ExperimentCommand.Create().Parse(["--dataset", "synthetic", "--student-models", "tiny,gpt-5"])));

        Assert.Contains("--student-models: unknown model 'gpt-5'", e.Message);
    }
}

/// <summary>Two-class experiments: AUC and the epoch best on val in every row, the AUC table and the verdict on AUC.</summary>
[Trait("Category", "Unit")]
public sealed class ExperimentAucSpecs
{
    private static ExperimentRow Row(string mode, long seed, double auc, double bestAuc) =>
        new ExperimentRow(new ExperimentKey(2, 1, mode, seed), 3, 30, 1, 0.9, [0.8, 0.81], 0.82)
        {
            TeacherSecond = 0.95, StudentMeanSecond = auc - 0.01, EnsembleSecond = auc, BestEpoch = 2, BestEnsemble = 0.83, BestEnsembleSecond = bestAuc,
        };

    [Fact]
    public void Should_round_trip_the_auc_columns_and_read_older_rows_without_them()
    {
        var row = Row("kd-ml", 4, 0.93, 0.94);

        var back = ExperimentRow.FromCsv(row.ToCsv());
        Assert.Equal(row.ToCsv(), back.ToCsv());
        Assert.Equal((0.95, 0.92, 0.93, 2, 0.83, 0.94), (back.TeacherSecond, back.StudentMeanSecond, back.EnsembleSecond, back.BestEpoch, back.BestEnsemble, back.BestEnsembleSecond));
        Assert.Equal(17, ExperimentMetrics.Classification.CsvHeader.Split(',').Length);
        var old = ExperimentRow.FromCsv("2,1,kd,1,1,10,1.0,0.9,0.805,0.82,0.8;0.81");
        Assert.True(double.IsNaN(old.EnsembleSecond));
        Assert.Equal(0, old.BestEpoch);
    }

    [Fact]
    public void Should_tabulate_auc_and_give_a_paired_verdict_on_it()
    {
        var rows = new[] { 1L, 2, 3 }.SelectMany(s => new[]
        {
            Row("kd", s, 0.90 + 0.001 * s, 0.91), Row("ml", s, 0.91 + 0.001 * s, 0.91), Row("kd-ml", s, 0.92 + 0.001 * s + (s == 2 ? 0.002 : 0), 0.93),
        });
        var group = ExperimentReport.Aggregate(rows, ExperimentMetrics.Classification, [2], [1], ["kd", "ml", "kd-ml"], [1, 2, 3]).Single();

        var table = ExperimentReport.SecondTable(group)!;
        Assert.Contains("| kd-ml | 3 | 0.9500 ± 0.0000 | 0.9127 ± 0.0015 | **0.9227 ± 0.0015** | 0.8300 ± 0.0000 | 0.9300 ± 0.0000 |", table);
        var verdict = ExperimentReport.SecondVerdict(group);
        Assert.Contains("beat kd's and ml's in ROC-AUC? yes, significantly", verdict);
        Assert.Contains("beats kd's by 2.07 points", verdict);
        Assert.Null(ExperimentReport.SecondTable(ExperimentReport.Aggregate(
            [new ExperimentRow(new ExperimentKey(2, 1, "kd", 1), 1, 1, 1, 0.9, [0.8, 0.8], 0.8)], ExperimentMetrics.Classification, [2], [1], ["kd"], [1]).Single()));
    }

    [Fact]
    public void Should_take_auc_and_the_best_epoch_on_val_from_a_run()
    {
        static P2PDistill.Shared.Metrics.ClassificationMetrics M(double acc, double auc) =>
            new(acc, acc, [acc, acc], [acc, acc], [acc, acc], [[1, 0], [0, 1]], 2, 2, 0.5, auc, acc, acc);
        static P2PDistill.Shared.Training.EvalRecord E(int epoch, double test, double val) =>
            new(epoch, epoch, [new("teacher", P2PDistill.Shared.Training.ModelRole.Teacher, M(0.9, 0.95)),
                new("student-1", P2PDistill.Shared.Training.ModelRole.Student, M(test, test)), new("student-2", P2PDistill.Shared.Training.ModelRole.Student, M(test, test - 0.02))], M(test, test))
            {
                Val = new(epoch, epoch, [new("teacher", P2PDistill.Shared.Training.ModelRole.Teacher, M(0.9, 0.9))], M(val, val)),
            };
        var result = new P2PDistill.Shared.Training.CohortResult([E(0, 0.80, 0.85), E(1, 0.84, 0.95), E(2, 0.86, 0.90)], 30, 1, 1, true, null);

        var row = P2PDistill.Coordinator.Commands.ExperimentCommand.RowOf(new ExperimentKey(2, 1, "kd-ml", 1), new() { Epochs = 3 }, result);

        Assert.Equal((0.86, 0.95, 0.85), (row.EnsembleSecond, row.TeacherSecond, row.StudentMeanSecond));
        Assert.Equal((2, 0.84, 0.84), (row.BestEpoch, row.BestEnsemble, row.BestEnsembleSecond));
    }
}
