using System.Globalization;
using Microsoft.Extensions.Configuration;
using P2PDistill.Coordinator.Onnx;
using P2PDistill.Shared.Export;
using P2PDistill.Shared.Hosting;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Coordinator.Commands;

/// <summary>Exit codes of the coordinator's commands: <see cref="ExitCode"/> as the int a command returns.</summary>
public static class ExitCodes
{
    public const int Ok = (int)ExitCode.Completed;
    /// <summary>Something unexpected failed (a bug or the machine, not the input).</summary>
    public const int Failure = (int)ExitCode.Failed;
    /// <summary>Bad input: an unknown option, a missing or corrupt model, a dataset or image that does not fit.</summary>
    public const int BadInput = (int)ExitCode.BadInput;
}

/// <summary>Input the user must fix; the message says what and where. Commands print it and exit <see cref="ExitCodes.BadInput"/>.</summary>
public sealed class CommandInputException(string message) : Exception(message);

/// <summary>What the evaluate and predict commands share: argument handling, model loading, error reporting.</summary>
internal static class CommandSupport
{
    public const string ModelsKey = "Models";

    /// <summary>The shared shell of a command: --help, flag parsing, and turning bad input into exit 2 (see <see cref="Guard"/>).</summary>
    public static Task<int> Run(string[] args, CommandLine cli, string usage, string name, TextWriter output, TextWriter error,
        Func<CommandLine.Parsed, TextWriter, TextWriter, int> run)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (WantsHelp(args))
        {
            output.WriteLine(cli.Help(usage));
            return Task.FromResult(ExitCodes.Ok);
        }
        return Task.FromResult(Guard(name, error, () => run(cli.Parse(args), output, error)));
    }

    public static bool WantsHelp(IReadOnlyList<string> args) => args.Contains("--help") || args.Contains("-h");

    /// <summary>Runs <paramref name="body"/>, turning input errors into a message on <paramref name="error"/> and exit code 2.</summary>
    public static int Guard(string command, TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is CommandLineException or CommandInputException or ModelExportException or Shared.Data.DatasetException)
        {
            error.WriteLine($"{command}: error: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A full disk, a read-only or vanished folder, missing permissions: the message names the file; no stack trace.
            string fix = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => "check the path",
                UnauthorizedAccessException => "fix the folder's permissions or choose another --output",
                _ => "free space (or choose another --output on a disk with room)",
            };
            error.WriteLine($"{command}: error: {e.Message}");
            error.WriteLine($"{command}: a file could not be read or written: {fix}, then rerun the same command. Files written before " +
                            "are kept: an experiment skips the runs it recorded, and a run continues from its last checkpoint with --resume.");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine($"{command}: unexpected error: {e}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>The values of a repeatable option (<c>Section:Key:0</c>, <c>:1</c>, ...), in the order given.</summary>
    public static IReadOnlyList<string> List(Dictionary<string, string?> values, string key)
    {
        var result = new List<string>();
        for (int i = 0; values.TryGetValue($"{key}:{i}", out var value); i++)
            if (!string.IsNullOrWhiteSpace(value)) result.Add(value);
        return result;
    }

    public static int PositiveInt(Dictionary<string, string?> values, string key, string flag, int fallback)
    {
        if (!values.TryGetValue(key, out var text) || text is null) return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < 1)
            throw new CommandInputException($"{flag} must be a positive whole number (got '{text}').");
        return value;
    }

    /// <summary>Refuses raw <c>--Section:Key</c> options outside the sections this command reads.</summary>
    public static void OnlySections(Dictionary<string, string?> values, params string[] sections)
    {
        foreach (var key in values.Keys)
            if (!sections.Any(s => key.StartsWith(s + ":", StringComparison.OrdinalIgnoreCase)))
                throw new CommandInputException($"Option '--{key}' does not apply to this command; it reads only {string.Join(", ", sections.Select(s => s + ":*"))} keys. Run with --help for its options.");
    }

    /// <summary>Binds section <paramref name="section"/> of <paramref name="values"/> onto <paramref name="target"/>; unknown keys and bad values are input errors.</summary>
    /// <summary>
    /// The settings of <paramref name="section"/> bound over <paramref name="defaults"/> (a fresh record, not shared): the one place
    /// a command turns its flags into typed settings. A value that does not fit its setting is input to fix.
    /// </summary>
    public static T Bind<T>(Dictionary<string, string?> values, string section, T defaults, CommandLine? flags = null) where T : class
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        try
        {
            configuration.GetSection(section).Bind(defaults, o => o.ErrorOnUnknownConfiguration = true);
            return defaults;
        }
        catch (InvalidOperationException e)
        {
            throw new CommandInputException(ConfigurationErrors.Describe(e, flags) ??
                $"Invalid {section} option: {e.Message}{(e.InnerException is null ? "" : " " + e.InnerException.Message)}");
        }
    }

    /// <summary>Loads every model card (checksums included); disposes what was loaded when one fails.</summary>
    public static List<ExportedModel> LoadModels(IReadOnlyList<string> cards)
    {
        var models = new List<ExportedModel>();
        try
        {
            foreach (var card in cards) models.Add(ExportedModel.Load(card));
            return models;
        }
        catch
        {
            Dispose(models);
            throw;
        }
    }

    /// <summary>
    /// Loads every model to predict with: a card (.json) into TorchSharp (<see cref="ExportedModel.Load"/>, checksums included), an
    /// .onnx file into ONNX Runtime (<see cref="OnnxRuntimeModel.Load"/>). Disposes what was loaded when one fails.
    /// </summary>
    public static List<IImagePredictor> LoadPredictors(IReadOnlyList<string> paths)
    {
        var models = new List<IImagePredictor>();
        try
        {
            foreach (var path in paths)
                models.Add(OnnxRuntimeModel.IsOnnxPath(path) ? OnnxRuntimeModel.Load(path) : ExportedModel.Load(path));
            return models;
        }
        catch
        {
            Dispose(models);
            throw;
        }
    }

    public static void Dispose(IEnumerable<IDisposable> models)
    {
        foreach (var m in models) m.Dispose();
    }

    /// <summary>
    /// Refuses models that cannot be scored or ensembled together: each must have the first one's task (a detector and a
    /// classifier are refused by task first), then its input shape and classes. The message names both files.
    /// </summary>
    /// <param name="what">"evaluation" or "prediction", for the message.</param>
    public static void EnsureCompatible(IReadOnlyList<IImagePredictor> models, string what)
    {
        var first = models[0];
        foreach (var m in models.Skip(1))
        {
            if (m.Card.Task != first.Card.Task)
                throw new CommandInputException($"Models of one {what} must share their task: {Describe(first)} is a {first.Card.Task.SettingName()} model " +
                    $"and {Describe(m)} a {m.Card.Task.SettingName()} model. Give the models of one task.");
            if (m.InputShape != first.InputShape || !m.ClassNames.SequenceEqual(first.ClassNames, StringComparer.Ordinal))
                throw new CommandInputException($"Models of one {what} must share input shape and classes: {Describe(first)} " +
                    $"and {Describe(m)} do not.");
        }
    }

    public static string Describe(IImagePredictor m) =>
        $"'{m.CardPath}' ({m.Card.Architecture} '{m.Card.ModelId}', {m.InputShape} input, {m.NumClasses} classes: {Names(m.ClassNames)})";

    public static string Names(IReadOnlyList<string> names) =>
        names.Count <= 12 ? string.Join(", ", names) : string.Join(", ", names.Take(12)) + $", ... ({names.Count - 12} more)";
}
