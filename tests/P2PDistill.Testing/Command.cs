namespace P2PDistill.Testing;

/// <summary>An executable and its arguments, as <see cref="RunningProcess"/> starts it (no shell, no quoting).</summary>
public sealed record Command(string File, IReadOnlyList<string> Arguments)
{
    public static Command Of(string file, params IEnumerable<string> arguments) => new(file, [.. arguments]);

    /// <summary>This command run by another one, e.g. <c>setpriv FLAGS -- dotnet node.dll ...</c> or <c>ip netns exec NS dotnet ...</c>.</summary>
    public Command Under(string file, params IEnumerable<string> arguments) => new(file, [.. arguments, File, .. Arguments]);

    public override string ToString() => string.Join(' ', Arguments.Prepend(File));
}
