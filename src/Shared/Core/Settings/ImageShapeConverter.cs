using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDistill.Shared.Data;

namespace P2PDistill.Shared.Settings;

/// <summary>Parses an image shape setting written CxHxW (<c>1x28x28</c>): three whole numbers >= 1.</summary>
public sealed class ImageShapeConverter : TypeConverter
{
    public const string Expected = "channels x height x width, like 1x28x28";

    /// <exception cref="SettingFormatException">The text is not three whole numbers >= 1 joined by x, or their product is over <see cref="ImageShape.MaxPixels"/>.</exception>
    public static ImageShape Parse(string text)
    {
        var parts = text.Trim().ToLowerInvariant().Split('x');
        var sizes = new int[parts.Length];
        if (parts.Length != 3 || parts.Select((p, i) => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) && sizes[i] >= 1).Contains(false))
            throw new SettingFormatException(text, Expected);
        if ((long)sizes[0] * sizes[1] * sizes[2] > ImageShape.MaxPixels)
            throw new SettingFormatException(text, $"{Expected}, at most {ImageShape.MaxPixels:N0} values per image");
        return new ImageShape(sizes[0], sizes[1], sizes[2]);
    }

    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? Parse(s) : base.ConvertFrom(context, culture, value);

    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is ImageShape shape ? shape.ToString() : base.ConvertTo(context, culture, value, destinationType);
}

/// <summary>Writes an image shape as CxHxW in JSON (config.json).</summary>
public sealed class ImageShapeJsonConverter : JsonConverter<ImageShape>
{
    public override ImageShape Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => ImageShapeConverter.Parse(reader.GetString() ?? "");

    public override void Write(Utf8JsonWriter writer, ImageShape value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
