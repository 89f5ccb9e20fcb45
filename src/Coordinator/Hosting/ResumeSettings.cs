using System.Text.Json;
using System.Text.Json.Nodes;
using P2PDistill.Coordinator.Cli;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Runs;
using P2PDistill.Shared.Training;

namespace P2PDistill.Coordinator.Hosting;

/// <summary>
/// What <c>--resume</c> checks: the training, data and optimizer settings it is given against those the run recorded in
/// its config.json, setting by setting. Every setting matters (the schedule, the batches, the losses or what the run
/// means) except the few in <see cref="MayChange"/>, which only say how this process runs; the node and run settings
/// (ports, TLS, frame, timeouts, protocol, min-students) may all change. A setting an older version did not record is taken
/// at its default.
/// </summary>
public static class ResumeSettings
{
    /// <summary>
    /// Settings a resume may change: threads, checkpoint and evaluation cadence, checkpoints kept, the output folder and run
    /// name (the run is the one resumed), the data mode (ship and local make the same batches), the temperatures as given
    /// (their effect, <c>distillation.temperature_kd/ml</c>, is compared) and the other values derived from compared ones.
    /// </summary>
    public static readonly IReadOnlySet<string> MayChange = new HashSet<string>(StringComparer.Ordinal)
    {
        "training.threads", "training.checkpoint_every_steps", "training.keep_checkpoints", "training.eval_every_epochs",
        "training.output_directory", "training.run_name",
        "training.temperature", "training.temperature_kd", "training.temperature_ml",
        "training.distillation.mode", "training.distillation.weight_ce", "training.distillation.alpha", "training.distillation.beta",
        "training.distillation.ramp_up_steps", "training.distillation.effective_alpha", "training.distillation.effective_beta",
        "data.mode", "data.is_local", "data.augment.crop_padding", "data.augment.horizontal_flip", "data.augment.is_none",
    };

    /// <summary>
    /// Every setting that differs, as "--flag (section.key): RECORDED in the run, NEW now", in a stable order; empty when
    /// the run can be resumed with these settings. <paramref name="recorded"/> is the run's config.json. The number of
    /// students counts only when both the run and the resume use the embedded runner (a cluster's cohort is whoever
    /// registers, as its checkpoint says).
    /// </summary>
    public static IReadOnlyList<string> Differences(JsonObject recorded, TrainingOptions training, DataOptions data, OptimizerOptions optimizer, bool embedded)
    {
        var wasEmbedded = recorded["mode"] is JsonValue mode && mode.TryGetValue<string>(out var m) && m == "embedded";
        var differences = new List<string>();
        foreach (var (section, now, defaults) in new (string, object, object)[]
                 {
                     ("training", training, new TrainingOptions { Task = training.Task }),
                     ("data", data, new DataOptions { Task = data.Task }),
                     ("optimizer", optimizer, new OptimizerOptions()),
                 })
        {
            var was = Flatten(recorded[section], section);
            var fallback = Flatten(RunDirectory.ToJson(defaults), section);
            var current = Flatten(RunDirectory.ToJson(now), section);
            foreach (var key in current.Keys.Union(was.Keys).Union(fallback.Keys).Distinct().Order(StringComparer.Ordinal))
            {
                if (MayChange.Contains(key)) continue;
                if (key == "training.students" && !(embedded && wasEmbedded)) continue;
                var before = was.TryGetValue(key, out var w) ? w : fallback.GetValueOrDefault(key);
                var after = current.GetValueOrDefault(key);
                if (!JsonNode.DeepEquals(before, after))
                    differences.Add($"{FlagOf(key)}({key}): {Show(before)} in the run, {Show(after)} now");
            }
        }
        return differences;
    }

    /// <summary>The nested settings of a config.json section as "section.key[.key]" → value (a missing value is null).</summary>
    private static Dictionary<string, JsonNode?> Flatten(JsonNode? node, string path)
    {
        var into = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        void Walk(JsonNode? n, string at)
        {
            if (n is JsonObject obj)
                foreach (var (key, value) in obj) Walk(value, $"{at}.{key}");
            else if (at != path) into[at] = n;
        }
        Walk(node, path);
        return into;
    }

    private static string Show(JsonNode? value) => value switch
    {
        null => "unset",
        JsonValue v when v.TryGetValue<string>(out var s) => s.Length == 0 ? "''" : s,
        _ => value.ToJsonString(),
    };

    /// <summary>The flag that sets <paramref name="key"/> ("--batch-size "), from the coordinator's command line; empty when none does.</summary>
    private static string FlagOf(string key)
    {
        if (key is "training.distillation.temperature_kd") return "--temperature-kd or --temperature ";
        if (key is "training.distillation.temperature_ml") return "--temperature-ml or --temperature ";
        if (Flags.Value.GetValueOrDefault(key) is { } flag) return $"--{flag} ";
        // No flag of its own: the configuration key, as given on the command line (--Data:SyntheticTest=N).
        var parts = key.Split('.');
        return parts.Length == 2 ? $"--{Pascal(parts[0])}:{string.Concat(parts[1].Split('_').Select(Pascal))} " : "";
    }

    private static string Pascal(string word) => word.Length == 0 ? word : char.ToUpperInvariant(word[0]) + word[1..];

    private static readonly Lazy<Dictionary<string, string>> Flags = new(() =>
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var flag in CoordinatorCli.Create().Flags)
            foreach (var key in flag.Keys)
                if (key.Split(':') is [var section, var name])
                    map.TryAdd($"{section.ToLowerInvariant()}.{JsonNamingPolicy.SnakeCaseLower.ConvertName(name)}", flag.Name);
        return map;
    });
}
