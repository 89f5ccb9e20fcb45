namespace P2PDistill.Shared.Data;

/// <summary>
/// A dataset could not be found, read or decoded, or the data options are invalid.
/// The message names the file or directory, what is wrong and what to do about it.
/// </summary>
public sealed class DatasetException : Exception
{
    public DatasetException(string message) : base(message) { }

    public DatasetException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>The file or directory the error is about, when there is one.</summary>
    public string? Path { get; init; }
}
