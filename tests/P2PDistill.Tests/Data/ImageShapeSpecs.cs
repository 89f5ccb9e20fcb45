using P2PDistill.Shared.Data;
using P2PDistill.Shared.Settings;

namespace P2PDistill.Tests.Data;

/// <summary>An image shape's product never wraps: 1x65536x65536 is refused, not taken for 0 values (issue 16).</summary>
[Trait("Category", "Unit")]
public sealed class ImageShapeSpecs
{
    [Fact]
    public void Should_throw_rather_than_wrap_when_the_product_overflows() =>
        Assert.Throws<OverflowException>(() => new ImageShape(1, 65536, 65536).Pixels);

    [Theory]
    [InlineData("1x65536x65536")]
    [InlineData("3x8192x8192")]
    public void Should_refuse_a_shape_setting_over_the_largest_image(string text)
    {
        var e = Assert.Throws<SettingFormatException>(() => ImageShapeConverter.Parse(text));
        Assert.Contains(text, e.Message);
        Assert.Contains("at most", e.Message);
    }

    [Theory]
    [InlineData("1x28x28", 784)]
    [InlineData("3x224x224", 150528)]
    [InlineData("3x4096x4096", 50331648)]
    public void Should_parse_real_shapes(string text, int pixels) =>
        Assert.Equal(pixels, ImageShapeConverter.Parse(text).Pixels);
}
