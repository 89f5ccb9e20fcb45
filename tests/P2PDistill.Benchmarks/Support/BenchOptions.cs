using System.Globalization;

namespace P2PDistill.Benchmarks.Support;

/// <summary>
/// The options of a benchmark sub-command: <c>--name value</c> or <c>--name=value</c>, each declared with a default and a
/// help line; anything undeclared is an error that lists the known options.
/// </summary>
public sealed class BenchOptions
{
    private readonly Dictionary<string, (string Default, string Help)> known = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string> given = new(StringComparer.OrdinalIgnoreCase);

    public BenchOptions Declare(string name, string defaultValue, string help)
    {
        known[name] = (defaultValue, help);
        return this;
    }

    public string Help() => string.Join(Environment.NewLine, known.Select(k => $"  --{k.Key,-18} {k.Value.Help} (default: {(k.Value.Default.Length == 0 ? "none" : k.Value.Default)})"));

    /// <summary>Parses <paramref name="args"/>; returns false (having printed why) on an unknown or incomplete option.</summary>
    public bool Parse(IReadOnlyList<string> args, TextWriter error)
    {
        for (int i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                error.WriteLine($"error: unexpected argument '{arg}'");
                return false;
            }
            var body = arg[2..];
            string? value = null;
            if (body.IndexOf('=') is var eq and >= 0) (body, value) = (body[..eq], body[(eq + 1)..]);
            if (!known.ContainsKey(body))
            {
                error.WriteLine($"error: unknown option '--{body}'. Known options: {string.Join(", ", known.Keys.Select(k => "--" + k))}");
                return false;
            }
            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    error.WriteLine($"error: option '--{body}' needs a value");
                    return false;
                }
                value = args[++i];
            }
            given[body] = value;
        }
        return true;
    }

    public string this[string name] => given.TryGetValue(name, out var v) ? v : known[name].Default;

    public int Int(string name) => int.Parse(this[name], NumberStyles.Integer, CultureInfo.InvariantCulture);

    public double Double(string name) => double.Parse(this[name], NumberStyles.Float, CultureInfo.InvariantCulture);

    public IReadOnlyList<int> Ints(string name) =>
        this[name].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToList();

    public IReadOnlyList<string> Strings(string name) =>
        this[name].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
