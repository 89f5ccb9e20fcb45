using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace P2PDistill.Shared.Settings;

/// <summary>
/// A setting's text that names none of its values. Thrown by the settings' type converters while configuration is bound, so a
/// bad value stops the program at the boundary with a message that says what the setting takes.
/// </summary>
public sealed class SettingFormatException(string text, string expected)
    : FormatException($"must be {expected} (got '{text}')")
{
    /// <summary>The text given.</summary>
    public string Text { get; } = text;

    /// <summary>What the setting takes, in words ("independent, kd, ml or kd-ml").</summary>
    public string Expected { get; } = expected;
}

/// <summary>
/// The names a setting's enum is written with in flags, settings files and config.json (<c>kd-ml</c>, <c>continue-ml</c>),
/// with accepted aliases. Attach a subclass with <c>[TypeConverter(typeof(...))]</c>: configuration binding then parses the
/// text once, into the enum, and refuses any other text with <see cref="SettingFormatException"/>.
/// </summary>
public abstract class SettingEnumConverter<T> : TypeConverter where T : struct, Enum
{
    private readonly (T Value, string Name, string[] Aliases)[] table;

    protected SettingEnumConverter(params (T Value, string Name, string[] Aliases)[] table)
    {
        var missing = Enum.GetValues<T>().Where(v => table.All(e => !e.Value.Equals(v))).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"{typeof(T).Name}: no setting name for {string.Join(", ", missing)}");
        this.table = table;
    }

    /// <summary>The names, in order ("independent, kd, ml or kd-ml").</summary>
    public string Expected => table.Length switch
    {
        1 => table[0].Name,
        _ => string.Join(", ", table[..^1].Select(e => e.Name)) + " or " + table[^1].Name,
    };

    public IReadOnlyList<string> Names => table.Select(e => e.Name).ToList();

    /// <summary>The value named by <paramref name="text"/> (case and surrounding spaces ignored; aliases accepted).</summary>
    /// <exception cref="SettingFormatException">No value has that name.</exception>
    public T Parse(string text)
    {
        var key = text.Trim();
        foreach (var e in table)
            if (string.Equals(e.Name, key, StringComparison.OrdinalIgnoreCase) || e.Aliases.Any(a => string.Equals(a, key, StringComparison.OrdinalIgnoreCase)))
                return e.Value;
        throw new SettingFormatException(text, Expected);
    }

    public string Name(T value) => table.First(e => e.Value.Equals(value)).Name;

    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? Parse(s) : base.ConvertFrom(context, culture, value);

    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is T v ? Name(v) : base.ConvertTo(context, culture, value, destinationType);
}

/// <summary>Reads a setting enum's names and writes its value by name.</summary>
public static class SettingNames
{
    /// <summary>The converter attached to <typeparamref name="T"/>.</summary>
    public static SettingEnumConverter<T> Of<T>() where T : struct, Enum =>
        TypeDescriptor.GetConverter(typeof(T)) as SettingEnumConverter<T>
        ?? throw new InvalidOperationException($"{typeof(T).Name} has no [TypeConverter] deriving from SettingEnumConverter");

    /// <summary>The value's name as flags and files write it (<c>kd-ml</c>).</summary>
    public static string SettingName<T>(this T value) where T : struct, Enum => Of<T>().Name(value);
}

/// <summary>Writes and reads every setting enum by its name in JSON (config.json), as the flags spell it.</summary>
public sealed class SettingEnumJsonConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsEnum && TypeDescriptor.GetConverter(typeToConvert).GetType().BaseType is { IsGenericType: true } b &&
        b.GetGenericTypeDefinition() == typeof(SettingEnumConverter<>);

    public override JsonConverter? CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter?)Activator.CreateInstance(typeof(ByName<>).MakeGenericType(typeToConvert));

    private sealed class ByName<T> : JsonConverter<T> where T : struct, Enum
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            SettingNames.Of<T>().Parse(reader.GetString() ?? "");

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(value.SettingName());
    }
}
