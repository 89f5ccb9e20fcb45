using System.Text.Json;
using P2PDistill.Shared.Losses;
using P2PDistill.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace P2PDistill.Tests.Losses;

/// <summary>Checks the losses against PyTorch's numbers in Fixtures/distill-loss-golden.json (provenance: Fixtures/README.md).</summary>
[Trait("Category", "Unit")]
public sealed class GoldenLossSpecs
{
    private static readonly JsonElement[] Cases = LoadCases();

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Cases.Length; i++) data.Add(i);
        return data;
    }

    [Fact]
    public void Should_have_six_cases() => Assert.Equal(6, Cases.Length);

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Should_match_golden_values_and_gradient_in_float64(int index) => Check(Cases[index], ScalarType.Float64, 1e-9, 1e-12);

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Should_match_golden_values_and_gradient_in_float32(int index) => Check(Cases[index], ScalarType.Float32, 1e-4, 1e-6);

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Should_match_golden_peer_probability_sum(int index)
    {
        var c = Cases[index];
        var (batch, classes) = (c.GetProperty("batch").GetInt32(), c.GetProperty("classes").GetInt32());
        var expected = Flat(c.GetProperty("expected").GetProperty("peer_prob_sum_at_temperature_ml"));
        var sums = StudentPeerSums(c, batch, classes);
        Assert.Equal(c.GetProperty("peers").GetInt32(), sums.Peers);
        if (sums.Peers == 0)
        {
            Assert.All(sums.ProbSum, v => Assert.Equal(0.0, v));
            return;
        }
        AssertClose(expected, sums.ProbSum, 1e-9, 1e-12, "peer_prob_sum");
    }

    [Fact]
    public void Should_leave_out_of_the_total_the_terms_a_mode_does_not_use()
    {
        var c = Cases[1];
        foreach (var mode in Enum.GetValues<DistillMode>())
        {
            using var scope = NewDisposeScope();
            var settings = Settings(c) with { Mode = mode };
            var parts = Compute(c, settings, ScalarType.Float64).parts;
            Assert.Equal(Expected(c, "kd"), parts.Kd, 9);
            Assert.Equal(Expected(c, "ml"), parts.Ml, 9);
            var expectedTotal = Expected(c, "ce") + (mode.UsesTeacher() ? Expected(c, "kd") * settings.Alpha : 0)
                                + (mode.UsesPeers() ? Expected(c, "ml") * settings.Beta : 0);
            Assert.Equal(expectedTotal, parts.Total, 9);
        }
    }

    [Fact]
    public void Should_give_ce_gradient_only_in_independent_mode()
    {
        var c = Cases[1];
        using var scope = NewDisposeScope();
        var (batch, classes) = (c.GetProperty("batch").GetInt32(), c.GetProperty("classes").GetInt32());
        var independent = Compute(c, Settings(c) with { Mode = DistillMode.Independent }, ScalarType.Float64).grad;
        var student = tensor(Flat(c.GetProperty("student_logits")), [batch, classes]).requires_grad_();
        var labels = tensor(c.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        DistillLoss.CrossEntropy(student, labels).backward();
        Assert.Equal(student.grad!.data<double>().ToArray(), independent);
    }

    private static void Check(JsonElement c, ScalarType dtype, double rel, double abs)
    {
        using var scope = NewDisposeScope();
        var (parts, grad) = Compute(c, Settings(c), dtype);
        AssertClose([Expected(c, "ce")], [parts.Ce], rel, abs, "ce");
        AssertClose([Expected(c, "kd")], [parts.Kd], rel, abs, "kd");
        AssertClose([Expected(c, "ml")], [parts.Ml], rel, abs, "ml");
        AssertClose([Expected(c, "total")], [parts.Total], rel, abs, "total");
        AssertClose(Flat(c.GetProperty("expected").GetProperty("grad_student_logits")), grad, rel, abs, "grad_student_logits");
    }

    private static (LossParts parts, double[] grad) Compute(JsonElement c, DistillationSettings settings, ScalarType dtype)
    {
        var (batch, classes) = (c.GetProperty("batch").GetInt32(), c.GetProperty("classes").GetInt32());
        var student = tensor(Flat(c.GetProperty("student_logits")), [batch, classes]).to_type(dtype).requires_grad_();
        var teacher = tensor(Flat(c.GetProperty("teacher_logits")), [batch, classes]).to_type(dtype);
        var labels = tensor(c.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        var sums = StudentPeerSums(c, batch, classes);
        var s = tensor(sums.ProbSum, [batch, classes]).to_type(dtype);
        var h = tensor(sums.NegEntropySum, [batch]).to_type(dtype);
        var loss = DistillLoss.Student(student, labels, settings, teacher, s, h, sums.Peers);
        loss.Total.backward();
        var grad = student.grad!.to_type(ScalarType.Float64).data<double>().ToArray();
        return (loss.ToParts(), grad);
    }

    /// <summary>The student's peer sums, built the way the coordinator builds them: from all students' logits at once.</summary>
    private static PeerSums StudentPeerSums(JsonElement c, int batch, int classes)
    {
        var all = new List<double[]> { Flat(c.GetProperty("student_logits")) };
        all.AddRange(c.GetProperty("peer_logits").EnumerateArray().Select(Flat));
        return PeerTargets.Build(all, batch, classes, c.GetProperty("temperature_ml").GetDouble())[0];
    }

    private static DistillationSettings Settings(JsonElement c) => new(
        DistillMode.KdMl,
        c.GetProperty("weight_ce").GetDouble(),
        c.GetProperty("alpha_kd").GetDouble(),
        c.GetProperty("beta_ml").GetDouble(),
        c.GetProperty("temperature_kd").GetDouble(),
        c.GetProperty("temperature_ml").GetDouble());

    private static double Expected(JsonElement c, string name) => c.GetProperty("expected").GetProperty(name).GetDouble();

    private static double[] Flat(JsonElement e) => e.ValueKind == JsonValueKind.Array
        ? e.EnumerateArray().SelectMany(Flat).ToArray()
        : [e.GetDouble()];

    private static void AssertClose(double[] expected, double[] actual, double rel, double abs, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            var tol = Math.Max(abs, rel * Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol,
                $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tol:G3})");
        }
    }

    private static JsonElement[] LoadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestFixtures.Path("distill-loss-golden.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(e => e.Clone()).ToArray();
    }
}
