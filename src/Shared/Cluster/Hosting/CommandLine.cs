namespace P2PDistill.Shared.Hosting;

/// <summary>A friendly command-line flag and the configuration keys it sets.</summary>
/// <param name="IsSwitch">True for a flag that takes no value (it sets "true").</param>
/// <param name="IsRepeatable">True for a flag that may be given several times (<c>--model a --model b</c>): its values become the
/// configuration list <c>Key:0</c>, <c>Key:1</c>, ... in the order given.</param>
public sealed record CliFlag(string Name, string[] Keys, string Help, bool IsSwitch = false, bool IsRepeatable = false);

/// <summary>
/// Turns friendly flags (<c>--epochs 3</c>, <c>--batch-size=64</c>, <c>--single-process</c>) into configuration
/// keys (<c>Training:Epochs</c>). Unknown flags are an error that lists the known ones; raw configuration
/// keys are also accepted as <c>--Section:Key=value</c>.
/// </summary>
public sealed class CommandLine(IReadOnlyList<CliFlag> flags)
{
    public IReadOnlyList<CliFlag> Flags { get; } = flags;

    public sealed record Parsed(Dictionary<string, string?> Values, List<string> Positionals);

    public Parsed Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var positionals = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                positionals.Add(arg);
                continue;
            }
            var body = arg[2..];
            string? inline = null;
            var eq = body.IndexOf('=');
            if (eq >= 0) (body, inline) = (body[..eq], body[(eq + 1)..]);

            if (body.Contains(':'))
            {
                values[body] = inline ?? Next(args, ref i, arg);
                continue;
            }
            var flag = Flags.FirstOrDefault(f => string.Equals(f.Name, body, StringComparison.OrdinalIgnoreCase))
                ?? throw new CommandLineException($"Unknown option '--{body}'. Known options: {string.Join(", ", Flags.Select(f => "--" + f.Name))}. Run with --help for details.");
            string? value = flag.IsSwitch ? inline ?? "true" : inline ?? Next(args, ref i, arg);
            foreach (var key in flag.Keys)
            {
                if (!flag.IsRepeatable)
                {
                    values[key] = value;
                    continue;
                }
                int index = 0;
                while (values.ContainsKey($"{key}:{index}")) index++;
                values[$"{key}:{index}"] = value;
            }
        }
        return new Parsed(values, positionals);
    }

    /// <summary>Turns a comma-separated value of <paramref name="listKeys"/> into indexed configuration keys (Key:0, Key:1, ...).</summary>
    public static Dictionary<string, string?> SplitLists(Dictionary<string, string?> values, params string[] listKeys)
    {
        var result = new Dictionary<string, string?>(values, StringComparer.OrdinalIgnoreCase);
        foreach (var key in listKeys)
        {
            if (!result.Remove(key, out var list) || list is null) continue;
            var items = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            for (int i = 0; i < items.Length; i++) result[$"{key}:{i}"] = items[i];
        }
        return result;
    }

    public string Help(string usage)
    {
        var width = Flags.Max(f => f.Name.Length) + 10;
        var lines = Flags.Select(f => $"  --{(f.IsSwitch ? f.Name : f.Name + " <value>").PadRight(width)} {f.Help}{(f.IsRepeatable ? " (repeatable)" : "")}");
        return usage + Environment.NewLine + Environment.NewLine + "Options:" + Environment.NewLine + string.Join(Environment.NewLine, lines)
               + Environment.NewLine + "  Any configuration key can also be given as --Section:Key=value (see appsettings.json).";
    }

    private static string Next(IReadOnlyList<string> args, ref int i, string flag)
    {
        if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            throw new CommandLineException($"Option '{flag}' needs a value.");
        return args[++i];
    }
}

public sealed class CommandLineException(string message) : Exception(message);
