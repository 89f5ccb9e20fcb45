using System.Globalization;
using System.Text;

namespace P2PDistill.Coordinator.Experiments;

/// <summary>
/// Which run of an experiment: cohort size, temperature, mode, seed. Independent training does not depend on the
/// temperature (no KD or ML term), so its runs carry no temperature (<see cref="Temperature"/> is null) and are shared by
/// every temperature of a sweep.
/// </summary>
public sealed record ExperimentKey(int Students, double? Temperature, string Mode, long Seed)
{
    public const string Independent = "independent";

    public static ExperimentKey For(int students, double temperature, string mode, long seed) =>
        new(students, mode == Independent ? null : temperature, mode, seed);

    /// <summary>A folder name for the run, e.g. <c>s2-T1-kd-ml-seed3</c> or <c>s2-independent-seed1</c>.</summary>
    public string RunName => Temperature is { } t
        ? string.Create(CultureInfo.InvariantCulture, $"s{Students}-T{t:R}-{Mode}-seed{Seed}")
        : string.Create(CultureInfo.InvariantCulture, $"s{Students}-{Mode}-seed{Seed}");

    public override string ToString() => Temperature is { } t
        ? string.Create(CultureInfo.InvariantCulture, $"{Students} students, T {t:R}, {Mode}, seed {Seed}")
        : string.Create(CultureInfo.InvariantCulture, $"{Students} students, {Mode}, seed {Seed}");
}

/// <summary>
/// One finished run of an experiment: the test figures after the last epoch. The headline (<see cref="Teacher"/>,
/// <see cref="Students"/>, <see cref="Ensemble"/>) and the second score (the <c>...Second</c> properties) are the task's
/// (<see cref="ExperimentMetrics"/>: accuracy and ROC-AUC for classification, mAP@0.5 and mAP@0.5:0.95 for detection).
/// </summary>
public sealed record ExperimentRow(
    ExperimentKey Key,
    int Epochs,
    long Steps,
    double Seconds,
    double Teacher,
    IReadOnlyList<double> Students,
    double Ensemble)
{
    public double StudentMean => Students.Count == 0 ? double.NaN : Students.Average();

    /// <summary>The final test second score of the teacher, the mean of the students' and the student ensemble's (NaN when undefined: one-class data, multi-class ROC-AUC).</summary>
    public double TeacherSecond { get; init; } = double.NaN;
    public double StudentMeanSecond { get; init; } = double.NaN;
    public double EnsembleSecond { get; init; } = double.NaN;

    /// <summary>Data with a validation split: the epoch best on val (1-based; 0 without val) and the ensemble's test headline and second score there.</summary>
    public int BestEpoch { get; init; }
    public double BestEnsemble { get; init; } = double.NaN;
    public double BestEnsembleSecond { get; init; } = double.NaN;

    /// <summary>The number of columns of a row (<see cref="ExperimentMetrics.CsvHeader"/>), and of the rows written before the second score and best-on-val were recorded.</summary>
    public const int Columns = 17, OlderColumns = 11;

    /// <summary>One CSV line, the same columns for every task; the students' figures are joined with ';' in the eleventh column.</summary>
    public string ToCsv()
    {
        var inv = CultureInfo.InvariantCulture;
        return string.Join(",",
            Key.Students.ToString(inv),
            Key.Temperature?.ToString("R", inv) ?? "",
            Key.Mode,
            Key.Seed.ToString(inv),
            Epochs.ToString(inv),
            Steps.ToString(inv),
            Seconds.ToString("F1", inv),
            Teacher.ToString("R", inv),
            StudentMean.ToString("R", inv),
            Ensemble.ToString("R", inv),
            string.Join(";", Students.Select(a => a.ToString("R", inv))),
            TeacherSecond.ToString("R", inv),
            StudentMeanSecond.ToString("R", inv),
            EnsembleSecond.ToString("R", inv),
            BestEpoch.ToString(inv),
            BestEnsemble.ToString("R", inv),
            BestEnsembleSecond.ToString("R", inv));
    }

    /// <summary>Parses a line written by <see cref="ToCsv"/>; <see cref="FormatException"/> when it is not one.</summary>
    public static ExperimentRow FromCsv(string line)
    {
        var f = line.Split(',');
        // 11 columns: rows written before AUC and best-on-val were recorded; they read with those as NaN.
        if (f.Length is not (OlderColumns or Columns))
            throw new FormatException($"expected {Columns} columns (or the {OlderColumns} of older rows), got {f.Length}: '{line}'");
        var inv = CultureInfo.InvariantCulture;
        double D(string s) => double.Parse(s, NumberStyles.Float, inv);
        var key = new ExperimentKey(int.Parse(f[0], inv), f[1].Length == 0 ? null : D(f[1]), f[2], long.Parse(f[3], inv));
        var students = f[10].Split(';', StringSplitOptions.RemoveEmptyEntries).Select(D).ToArray();
        if (students.Length != key.Students) throw new FormatException($"expected {key.Students} student figures, got {students.Length}: '{line}'");
        var row = new ExperimentRow(key, int.Parse(f[4], inv), long.Parse(f[5], inv), D(f[6]), D(f[7]), students, D(f[9]));
        return f.Length == OlderColumns ? row : row with
        {
            TeacherSecond = D(f[11]), StudentMeanSecond = D(f[12]), EnsembleSecond = D(f[13]),
            BestEpoch = int.Parse(f[14], inv), BestEnsemble = D(f[15]), BestEnsembleSecond = D(f[16]),
        };
    }
}

/// <summary>Mean and sample standard deviation (n − 1) of a handful of values; the std is NaN for fewer than two.</summary>
public readonly record struct MeanStd(double Mean, double Std, int Count)
{
    public static MeanStd Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) return new MeanStd(double.NaN, double.NaN, 0);
        double mean = values.Average();
        double std = values.Count < 2 ? double.NaN : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return new MeanStd(mean, std, values.Count);
    }

    /// <summary><c>0.8601 ± 0.0021</c>; without a spread (one seed) only the mean.</summary>
    public string Format()
    {
        var inv = CultureInfo.InvariantCulture;
        if (Count == 0) return "–";
        return double.IsNaN(Std) ? Mean.ToString("F4", inv) : $"{Mean.ToString("F4", inv)} ± {Std.ToString("F4", inv)}";
    }
}

/// <summary>One mode's results at one cohort size and temperature, over the seeds: the task's headline and second score (<see cref="ExperimentMetrics"/>).</summary>
public sealed record ModeSummary(string Mode, int Seeds, MeanStd Teacher, IReadOnlyList<MeanStd> Students, MeanStd StudentMean, MeanStd Ensemble)
{
    /// <summary>The student ensemble's headline of each seed, for paired comparisons between modes.</summary>
    public IReadOnlyDictionary<long, double> EnsembleBySeed { get; init; } = new Dictionary<long, double>();

    /// <summary>The same for the second score (seeds where it is defined), and its summaries (NaN means where no run defines it).</summary>
    public IReadOnlyDictionary<long, double> EnsembleSecondBySeed { get; init; } = new Dictionary<long, double>();
    public MeanStd TeacherSecond { get; init; } = MeanStd.Of([]);
    public MeanStd StudentMeanSecond { get; init; } = MeanStd.Of([]);
    public MeanStd EnsembleSecond { get; init; } = MeanStd.Of([]);

    /// <summary>Runs that had a validation split, and the ensemble's test headline and second score at the epoch best on it.</summary>
    public int RunsWithVal { get; init; }
    public MeanStd BestEnsemble { get; init; } = MeanStd.Of([]);
    public MeanStd BestEnsembleSecond { get; init; } = MeanStd.Of([]);

    public bool HasSecond => EnsembleSecondBySeed.Count > 0;
}

/// <summary>The results of one (cohort size, temperature) cell of the experiment, one summary per mode, in the task's <paramref name="Metrics"/>.</summary>
public sealed record ExperimentGroup(int Students, double Temperature, IReadOnlyList<ModeSummary> Modes, ExperimentMetrics Metrics)
{
    public ModeSummary? this[string mode] => Modes.FirstOrDefault(m => m.Mode == mode);

    public string Title => string.Create(CultureInfo.InvariantCulture, $"teacher + {Students} students, T = {Temperature:R}");

    /// <summary>Whether any run of the group had a validation split (and so an epoch best on it).</summary>
    public bool HasVal => Modes.Any(m => m.RunsWithVal > 0);
}

/// <summary>Groups runs, computes mean ± std over seeds, writes the tables and the verdicts.</summary>
public static class ExperimentReport
{
    public static readonly IReadOnlyList<string> ModeOrder = [ExperimentKey.Independent, "kd", "ml", "kd-ml"];

    /// <summary>
    /// One group per (students, temperature) asked for; independent runs (no temperature) join every temperature's group.
    /// Only rows of the requested modes and seeds are used, so an output folder may hold more runs than a report shows.
    /// </summary>
    public static IReadOnlyList<ExperimentGroup> Aggregate(IEnumerable<ExperimentRow> rows, ExperimentMetrics metrics, IReadOnlyList<int> students,
        IReadOnlyList<double> temperatures, IReadOnlyList<string> modes, IReadOnlyList<long> seeds)
    {
        var all = rows.Where(r => seeds.Contains(r.Key.Seed) && modes.Contains(r.Key.Mode)).ToList();
        var groups = new List<ExperimentGroup>();
        foreach (var n in students)
            foreach (var t in temperatures)
            {
                var summaries = new List<ModeSummary>();
                foreach (var mode in modes.OrderBy(Rank))
                {
                    var runs = all.Where(r => r.Key.Students == n && r.Key.Mode == mode && (r.Key.Temperature is null || r.Key.Temperature == t))
                        .GroupBy(r => r.Key.Seed).Select(g => g.First()).ToList();
                    if (runs.Count == 0) continue;
                    summaries.Add(new ModeSummary(mode, runs.Count,
                        MeanStd.Of(runs.Select(r => r.Teacher).ToList()),
                        Enumerable.Range(0, n).Select(i => MeanStd.Of(runs.Select(r => r.Students[i]).ToList())).ToList(),
                        MeanStd.Of(runs.Select(r => r.StudentMean).ToList()),
                        MeanStd.Of(runs.Select(r => r.Ensemble).ToList()))
                    {
                        EnsembleBySeed = runs.ToDictionary(r => r.Key.Seed, r => r.Ensemble),
                        EnsembleSecondBySeed = runs.Where(r => !double.IsNaN(r.EnsembleSecond)).ToDictionary(r => r.Key.Seed, r => r.EnsembleSecond),
                        TeacherSecond = Known(runs.Select(r => r.TeacherSecond)),
                        StudentMeanSecond = Known(runs.Select(r => r.StudentMeanSecond)),
                        EnsembleSecond = Known(runs.Select(r => r.EnsembleSecond)),
                        RunsWithVal = runs.Count(r => r.BestEpoch > 0),
                        BestEnsemble = Known(runs.Where(r => r.BestEpoch > 0).Select(r => r.BestEnsemble)),
                        BestEnsembleSecond = Known(runs.Where(r => r.BestEpoch > 0).Select(r => r.BestEnsembleSecond)),
                    });
                }
                groups.Add(new ExperimentGroup(n, t, summaries, metrics));
            }
        return groups;
    }

    /// <summary>Known modes in the paper's order (independent, kd, ml, kd-ml), others after them.</summary>
    public static int Rank(string mode)
    {
        for (int i = 0; i < ModeOrder.Count; i++) if (ModeOrder[i] == mode) return i;
        return int.MaxValue;
    }

    private static MeanStd Known(IEnumerable<double> values) => MeanStd.Of(values.Where(v => !double.IsNaN(v)).ToList());

    /// <summary>
    /// The line above a group's main table, naming its metric ("Test mAP@0.5 after the last epoch:"); null where the task's
    /// reports leave it to the introduction (<see cref="ExperimentMetrics.NamesHeadline"/>).
    /// </summary>
    public static string? Caption(ExperimentGroup group) =>
        group.Metrics.NamesHeadline ? $"Test {group.Metrics.HeadlineTitle} after the last epoch:" : null;

    /// <summary>The Markdown table of one group: mean ± std of the test headline per mode.</summary>
    public static string Table(ExperimentGroup group)
    {
        var sb = new StringBuilder();
        var studentColumns = Enumerable.Range(1, group.Students).Select(i => $"student-{i}");
        sb.AppendLine($"| mode | seeds | teacher | {string.Join(" | ", studentColumns)} | student mean | student ensemble |");
        sb.AppendLine("|---|---|---|" + string.Concat(Enumerable.Repeat("---|", group.Students)) + "---|---|");
        foreach (var m in group.Modes)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {m.Mode} | {m.Seeds} | {m.Teacher.Format()} | {string.Join(" | ", m.Students.Select(s => s.Format()))} | {m.StudentMean.Format()} | **{m.Ensemble.Format()}** |"));
        return sb.ToString();
    }

    /// <summary>
    /// The line above <see cref="SecondTable"/>: what it holds, and that there is no epoch chosen on a validation split when no run
    /// had one (the synthetic sets, a folder without val/).
    /// </summary>
    public static string SecondCaption(ExperimentGroup group) => group.HasVal
        ? $"Test {group.Metrics.SecondTitle} (final), and the ensemble at the epoch best on the validation split:"
        : $"Test {group.Metrics.SecondTitle} (final). The data set has no validation split, so no epoch is chosen on it and only final figures are reported:";

    /// <summary>
    /// The second score of the teacher, the student mean and the ensemble (final), and, with a validation split, the ensemble's test
    /// headline and second score at the epoch best on val; null when no run recorded a second score (multi-class classification).
    /// </summary>
    public static string? SecondTable(ExperimentGroup group)
    {
        if (!group.Modes.Any(m => m.HasSecond)) return null;
        var (h, s) = (group.Metrics.HeadlineTitle, group.Metrics.SecondShort);
        bool val = group.HasVal;
        var sb = new StringBuilder();
        sb.AppendLine($"| mode | seeds | teacher {s} | student mean {s} | ensemble {s} |" + (val ? $" ensemble {h}, best epoch on val | ensemble {s}, best epoch on val |" : ""));
        sb.AppendLine("|---|---|---|---|---|" + (val ? "---|---|" : ""));
        foreach (var m in group.Modes)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {m.Mode} | {m.Seeds} | {m.TeacherSecond.Format()} | {m.StudentMeanSecond.Format()} | **{m.EnsembleSecond.Format()}** |") +
                (val ? $" {m.BestEnsemble.Format()} | {m.BestEnsembleSecond.Format()} |" : ""));
        return sb.ToString();
    }

    /// <summary>
    /// A plain-words answer to the paper's question for one group: does kd-ml's student ensemble beat kd's and ml's in the headline?
    /// Each comparison is paired over the seeds both modes ran (the same seed gives both the same initialisation and batches): the
    /// mean difference in points (hundredths), its standard error, and the two-sided p-value of the paired t-test. "Significantly"
    /// means p &lt; 0.05 against each.
    /// </summary>
    public static string Verdict(ExperimentGroup group) =>
        Verdict(group, m => m.EnsembleBySeed, m => m.Ensemble, group.Metrics.NamesHeadline ? group.Metrics.HeadlineTitle : null);

    /// <summary>The same verdict on the ensembles' test second score (ROC-AUC; mAP@0.5:0.95).</summary>
    public static string SecondVerdict(ExperimentGroup group) => Verdict(group, m => m.EnsembleSecondBySeed, m => m.EnsembleSecond, group.Metrics.SecondTitle);

    /// <param name="metric">The metric's name in the question ("... beat kd's in ROC-AUC?"); null leaves it out.</param>
    private static string Verdict(ExperimentGroup group, Func<ModeSummary, IReadOnlyDictionary<long, double>> bySeed, Func<ModeSummary, MeanStd> summary, string? metric)
    {
        var inv = CultureInfo.InvariantCulture;
        var kdml = group["kd-ml"];
        var others = new[] { "kd", "ml" }.Select(m => group[m]).Where(m => m is not null).Cast<ModeSummary>().ToList();
        if (kdml is null || others.Count == 0)
            return $"{group.Title}: no verdict: it needs the kd-ml runs and the kd and/or ml runs.";

        var clauses = new List<string>();
        bool beatsAll = true, significantAll = true, behindSignificantly = false, untestable = false;
        foreach (var other in others)
        {
            var (mine, theirs) = (bySeed(kdml), bySeed(other));
            var seeds = mine.Keys.Intersect(theirs.Keys).Order().ToList();
            var test = PairedTest.Of(seeds.Select(s => mine[s]).ToList(), seeds.Select(s => theirs[s]).ToList());
            double diff = test.MeanDifference;
            if (test.Pairs == 0)
            {
                clauses.Add($"has no seed in common with {other.Mode}, so no paired test");
                beatsAll = significantAll = false;
                untestable = true;
                continue;
            }
            string verb = diff > 0 ? "beats" : diff < 0 ? "trails" : "ties";
            string detail;
            if (test.Pairs < 2)
            {
                detail = "one seed in common, so no paired test";
                untestable = true;
                significantAll = false;
            }
            else
            {
                bool significant = test.PValue < 0.05;
                detail = string.Create(inv, $"paired over {test.Pairs} seeds: {100 * diff:+0.00;-0.00;0.00} ± {100 * test.StandardError:F2} points (SE), ") +
                         $"t({test.DegreesOfFreedom}) = {FormatT(test.T)}, p {FormatP(test.PValue)}";
                significantAll &= significant && diff > 0;
                behindSignificantly |= significant && diff < 0;
            }
            beatsAll &= diff > 0;
            clauses.Add(string.Create(inv,
                $"{verb} {other.Mode}'s by {100 * Math.Abs(diff):F2} points ({summary(kdml).Mean:F4} vs {summary(other).Mean:F4}; {detail})"));
        }
        string answer = beatsAll && significantAll ? "yes, significantly (paired t-test, p < 0.05 against each)"
            : beatsAll && untestable ? "yes on the mean, but with one seed there is no test of it"
            : beatsAll ? "yes on the mean, but not significantly (p ≥ 0.05 against at least one)"
            : behindSignificantly ? "no: it is significantly behind (p < 0.05)"
            : untestable ? "no on the mean (one seed: no test)"
            : "no on the mean, and where it trails the difference is not significant";
        string compared = string.Join(" and ", others.Select(o => o.Mode + "'s"));
        string on = metric is null ? "" : $" in {metric}";
        return string.Create(inv, $"{group.Title}: does kd-ml's student ensemble beat {compared}{on}? {answer}. ") +
               $"It {string.Join("; it ", clauses)} ({kdml.Seeds} seed(s) for kd-ml).";
    }

    private static string FormatT(double t) =>
        double.IsInfinity(t) ? (t > 0 ? "+∞" : "−∞") : t.ToString("F2", CultureInfo.InvariantCulture);

    private static string FormatP(double p) => p < 0.0001 ? "< 0.0001" : "= " + p.ToString("F4", CultureInfo.InvariantCulture);

    /// <summary>Mean ± std of the student ensemble's headline per mode against the temperature, for each cohort size (the sweep).</summary>
    public static string TemperatureSweep(IReadOnlyList<ExperimentGroup> groups)
    {
        var sb = new StringBuilder();
        foreach (var bySize in groups.GroupBy(g => g.Students))
        {
            var modes = bySize.SelectMany(g => g.Modes.Select(m => m.Mode)).Distinct().ToList();
            var metrics = bySize.First().Metrics;
            string what = metrics.NamesHeadline ? $"Student ensemble's test {metrics.HeadlineTitle}" : "Student ensemble";
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{what}, teacher + {bySize.Key} students:"));
            sb.AppendLine();
            sb.AppendLine($"| T | {string.Join(" | ", modes)} |");
            sb.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---|", modes.Count)));
            foreach (var g in bySize)
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {g.Temperature:R} | {string.Join(" | ", modes.Select(m => g[m]?.Ensemble.Format() ?? "–"))} |"));
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
