using P2PDistill.Shared.Settings;

namespace P2PDistill.Shared.Hosting;

/// <summary>
/// A value that does not convert to its setting's type (<c>--epochs abc</c>) makes configuration binding throw; this
/// turns that into one line naming the flag, the value and the type expected.
/// </summary>
public static class ConfigurationErrors
{
    private static readonly System.Text.RegularExpressions.Regex Conversion =
        new(@"Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'", System.Text.RegularExpressions.RegexOptions.Singleline);

    private static int handlerInstalled;

    /// <summary>
    /// A clear message for a configuration conversion error anywhere in <paramref name="e"/>'s chain, else null; the key is
    /// named by its flag in <paramref name="flags"/> when it has one.
    /// </summary>
    public static string? Describe(Exception e, CommandLine? flags)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            var m = Conversion.Match(x.Message);
            if (!m.Success) continue;
            string key = m.Groups["key"].Value, value = m.Groups["value"].Value;
            var flag = flags?.Flags.FirstOrDefault(f => f.Keys.Any(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase)));
            string name = flag is null ? key : $"--{flag.Name} ({key})";
            // A setting with names (a mode, a role, a shape) says what it takes; a number or a switch says its type.
            if (x.InnerException is SettingFormatException named) return $"invalid configuration: {name} {named.Message}";
            return $"invalid configuration: {name} is '{value}', which is not {Expected(m.Groups["type"].Value)}; give a valid value (see --help)";
        }
        return null;
    }

    private static string Expected(string type) => type switch
    {
        "System.Int32" or "System.Int64" => "a whole number",
        "System.Double" or "System.Single" => "a number (use a dot for decimals, e.g. 0.5)",
        "System.Boolean" => "true or false",
        _ => $"a valid {type}",
    };

    /// <summary>
    /// Settings bound at the top level of a Program (outside <see cref="HostRunner"/>) fail with the same error: report it
    /// the same way, exit code 2, instead of an unhandled-exception crash.
    /// </summary>
    internal static void ExitCleanlyOnConversionErrors(CommandLine flags)
    {
        if (Interlocked.Exchange(ref handlerInstalled, 1) == 1) return;
        AppDomain.CurrentDomain.UnhandledException += (_, args) =>
        {
            if (args.ExceptionObject is Exception e && Describe(e, flags) is { } message)
            {
                Console.Error.WriteLine($"error: {message}");
                Console.Error.Flush();
                Environment.Exit((int)ExitCode.BadInput);
            }
        };
    }
}
