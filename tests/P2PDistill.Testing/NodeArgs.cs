using System.Globalization;

namespace P2PDistill.Testing;

/// <summary>
/// The command line of a node executable (p2pdistill-coordinator or p2pdistill-peer), built flag by flag. A flag set
/// twice keeps its place and takes the new value, as the programs read it (the last one wins); <see cref="With"/>
/// appends arguments exactly as given (bad input, TLS flags, a flag that may be repeated).
/// </summary>
public sealed class NodeArgs
{
    public const string CoordinatorAssembly = "p2pdistill-coordinator.dll";
    public const string PeerAssembly = "p2pdistill-peer.dll";

    private readonly List<string> arguments = [];
    private readonly Dictionary<string, int> positions = new(StringComparer.Ordinal);

    private NodeArgs(string assembly) => Assembly = assembly;

    /// <summary>The executable's file name, beside the test or benchmark assembly.</summary>
    public string Assembly { get; }

    /// <summary><c>dotnet PATH/ASSEMBLY ARGUMENTS</c>.</summary>
    public Command Command => new("dotnet", [ExecutablePath(Assembly), .. arguments]);

    /// <summary>The coordinator, or one of its commands (<c>evaluate</c>, <c>predict</c>, ...) given as <paramref name="command"/>.</summary>
    public static NodeArgs Coordinator(string? command = null)
    {
        var args = new NodeArgs(CoordinatorAssembly);
        if (command is not null) args.arguments.Add(command);
        return args;
    }

    public static NodeArgs Peer(string? role = null, string? seed = null)
    {
        var args = new NodeArgs(PeerAssembly);
        if (role is not null) args.Role(role);
        if (seed is not null) args.SeedNodes(seed);
        return args;
    }

    /// <summary>The full path of an executable copied beside the running assembly (the test or benchmark project references it).</summary>
    public static string ExecutablePath(string assembly)
    {
        var path = Path.Combine(AppContext.BaseDirectory, assembly);
        if (!File.Exists(path)) throw new FileNotFoundException($"{assembly} is not beside {AppContext.BaseDirectory}; build with dotnet build -c Release", path);
        return path;
    }

    /// <summary><c>--flag value</c>; a second call replaces the value.</summary>
    public NodeArgs Set(string flag, string value)
    {
        if (positions.TryGetValue(flag, out var at)) arguments[at + 1] = value;
        else
        {
            positions[flag] = arguments.Count;
            arguments.AddRange([flag, value]);
        }
        return this;
    }

    public NodeArgs Set(string flag, int value) => Set(flag, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>A flag without a value (<c>--single-process</c>), given once.</summary>
    public NodeArgs Switch(string flag)
    {
        if (positions.TryAdd(flag, arguments.Count)) arguments.Add(flag);
        return this;
    }

    /// <summary>A configuration key as <c>--Section:Key=value</c>; a second call replaces the value.</summary>
    public NodeArgs Config(string key, string value)
    {
        var argument = $"--{key}={value}";
        if (positions.TryGetValue(key, out var at)) arguments[at] = argument;
        else
        {
            positions[key] = arguments.Count;
            arguments.Add(argument);
        }
        return this;
    }

    public NodeArgs Config(string key, int value) => Config(key, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>Arguments appended exactly as given.</summary>
    public NodeArgs With(params IEnumerable<string> raw)
    {
        arguments.AddRange(raw);
        return this;
    }

    // Both programs.
    public NodeArgs Port(int port) => Set("--port", port);
    public NodeArgs SeedNodes(string seeds) => Set("--seed-nodes", seeds);
    public NodeArgs Threads(int threads) => Set("--threads", threads);
    public NodeArgs ClusterSummarySeconds(int seconds) => Config("Node:ClusterSummarySeconds", seconds);

    // The coordinator: data, models, run.
    public NodeArgs SingleProcess() => Switch("--single-process");
    public NodeArgs Embedded() => Switch("--embedded");
    public NodeArgs Dataset(string dataset) => Set("--dataset", dataset);
    public NodeArgs Task(string task) => Set("--task", task);

    /// <summary><c>--dataset synthetic</c> with the sizes given (the defaults otherwise).</summary>
    public NodeArgs Synthetic(int? train = null, int? test = null, int? classes = null)
    {
        Dataset("synthetic");
        if (train is { } n) Config("Data:SyntheticTrain", n);
        if (test is { } t) Config("Data:SyntheticTest", t);
        if (classes is { } c) Config("Data:SyntheticClasses", c);
        return this;
    }

    public NodeArgs DataPath(string path) => Set("--data-path", path);
    public NodeArgs DataMode(string mode) => Set("--data-mode", mode);
    public NodeArgs TeacherModel(string model) => Set("--teacher-model", model);
    public NodeArgs StudentModel(string model) => Set("--student-model", model);
    public NodeArgs Models(string teacher, string student) => TeacherModel(teacher).StudentModel(student);
    public NodeArgs Students(int students) => Set("--students", students);
    public NodeArgs MinStudents(int students) => Set("--min-students", students);
    public NodeArgs Mode(string mode) => Set("--mode", mode);
    public NodeArgs BatchSize(int size) => Set("--batch-size", size);
    public NodeArgs Epochs(int epochs) => Set("--epochs", epochs);
    public NodeArgs MaxSteps(int steps) => Set("--max-steps", steps);
    public NodeArgs TestLimit(int images) => Set("--test-limit", images);
    public NodeArgs CheckpointEvery(int steps) => Set("--checkpoint-every", steps);
    public NodeArgs KeepCheckpoints(int count) => Set("--keep-checkpoints", count);
    public NodeArgs StepTimeout(int seconds) => Set("--step-timeout", seconds);
    public NodeArgs TeacherLost(string policy) => Set("--teacher-lost", policy);
    public NodeArgs Resume(string runDirectory) => Set("--resume", runDirectory);

    /// <summary><c>--output</c>, and <c>--run-name</c> when given.</summary>
    public NodeArgs Output(string directory, string? runName = null)
    {
        Set("--output", directory);
        return runName is null ? this : Set("--run-name", runName);
    }

    // A peer.
    public NodeArgs Role(string role) => Set("--role", role);
    public NodeArgs Model(string model) => Set("--model", model);
    public NodeArgs Classes(int classes) => Set("--classes", classes);
    public NodeArgs InputShape(string shape) => Set("--input-shape", shape);
    public NodeArgs JoinTimeout(int seconds) => Set("--join-timeout", seconds);
    public NodeArgs RejoinGrace(int seconds) => Set("--rejoin-grace", seconds);
    public NodeArgs RejoinTimeout(int seconds) => Set("--rejoin-timeout", seconds);

    public override string ToString() => string.Join(' ', arguments.Prepend(Assembly));
}
