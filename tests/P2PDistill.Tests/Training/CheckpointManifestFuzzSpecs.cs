using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using P2PDistill.Shared.Data;
using P2PDistill.Shared.Training;
using P2PDistill.Tests.Support;

namespace P2PDistill.Tests.Training;

/// <summary>
/// <see cref="CheckpointStore.Verify"/> against any manifest.json: mutations of a real one (fields removed, nulled,
/// given the wrong JSON type or absurd values; entries repeated; paths leaving the folder; the text truncated or its
/// bytes flipped) and plain garbage. It must answer why not, never throw, and pass only a manifest whose every file is
/// in the folder and matches its checksum. Seeded: a failure names the seed and the manifest that broke it.
/// </summary>
[Trait("Category", "Fault")]
public sealed class CheckpointManifestFuzzSpecs : IDisposable
{
    private const int Cases = 3000;
    private readonly string dir = Directory.CreateTempSubdirectory("p2pdistill-manifest-fuzz-").FullName;
    private readonly string checkpoint;
    private readonly string valid;

    public CheckpointManifestFuzzSpecs()
    {
        var data = TestCohorts.Load(TestCohorts.SyntheticData(train: 64, test: 16));
        var store = new CheckpointStore(Path.Combine(dir, "checkpoints"), keep: 2);
        checkpoint = store.Write("run", 10, 1, 2,
        [
            (TestCohorts.Setup("tiny", ModelRole.Teacher, data, 1), 0, Enumerable.Repeat((byte)7, 100).ToArray()),
            (TestCohorts.Setup("tiny", ModelRole.Student, data, 2) with { Id = "student-1" }, 1, Enumerable.Repeat((byte)8, 50).ToArray()),
        ]);
        valid = File.ReadAllText(Path.Combine(checkpoint, "manifest.json"));
        // A file beside the checkpoint, with the teacher's bytes, that a manifest could point at by a relative path.
        File.WriteAllBytes(Path.Combine(dir, "checkpoints", "outside.state"), Enumerable.Repeat((byte)7, 100).ToArray());
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Should_answer_why_not_for_any_malformed_manifest_and_never_throw()
    {
        Assert.Null(CheckpointStore.Verify(checkpoint));
        var random = new Random(20261130);
        var passed = 0;
        for (int i = 0; i < Cases; i++)
        {
            var (what, bytes) = Mutate(random);
            File.WriteAllBytes(Path.Combine(checkpoint, "manifest.json"), bytes);
            string? why;
            try
            {
                why = CheckpointStore.Verify(checkpoint);
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} ({what}): Verify threw {e.GetType().Name}: {e.Message}\nmanifest: {Show(bytes)}");
                return;
            }
            if (why is null)
            {
                passed++;
                AssertReallyGood(i, what, bytes);
            }
            else Assert.False(string.IsNullOrWhiteSpace(why), $"case {i} ({what}): an empty reason");
        }
        // Most mutations break the manifest; a few are harmless (a reordered field, another date).
        Assert.InRange(passed, 0, Cases / 2);
    }

    [Theory]
    [InlineData("{}", "models")]
    [InlineData("{\"models\": null}", "models")]
    [InlineData("{\"models\": [null]}", "model 1")]
    [InlineData("{\"models\": \"teacher\"}", "unreadable")]
    [InlineData("null", "empty")]
    [InlineData("[]", "unreadable")]
    [InlineData("", "unreadable")]
    [InlineData("{\"models\": [{\"id\": \"teacher\"}]}", "file")]
    [InlineData("{\"models\": [{\"id\": \"teacher\", \"file\": \"../outside.state\", \"sha256\": \"00\", \"bytes\": 100}]}", "../outside.state")]
    public void Should_name_what_is_wrong_with_a_manifest(string manifest, string expected)
    {
        File.WriteAllText(Path.Combine(checkpoint, "manifest.json"), manifest);
        var why = CheckpointStore.Verify(checkpoint);
        Assert.NotNull(why);
        Assert.Contains(expected, why);
        Assert.Contains("manifest.json", why);
    }

    [Fact]
    public void Should_refuse_a_file_whose_size_is_not_the_manifests_without_reading_it()
    {
        var node = JsonNode.Parse(valid)!;
        node["models"]![0]!["bytes"] = long.MaxValue;
        File.WriteAllText(Path.Combine(checkpoint, "manifest.json"), node.ToJsonString());
        Assert.Contains("bytes", CheckpointStore.Verify(checkpoint));
    }

    /// <summary>Verify passed: the manifest must read, and every file it lists be in the folder with the right checksum.</summary>
    private void AssertReallyGood(int i, string what, byte[] bytes)
    {
        var manifest = CheckpointStore.ReadManifest(checkpoint);
        Assert.True(manifest.Models.Count > 0, $"case {i} ({what}): passed with no model\n{Show(bytes)}");
        foreach (var m in manifest.Models)
        {
            var path = Path.GetFullPath(Path.Combine(checkpoint, m.File));
            Assert.True(Path.GetDirectoryName(path) == Path.GetFullPath(checkpoint), $"case {i} ({what}): passed a file outside the folder: {m.File}");
            Assert.Equal(m.Sha256, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant());
        }
    }

    private (string What, byte[] Bytes) Mutate(Random random)
    {
        switch (random.Next(6))
        {
            case 0:
                {
                    var text = Encoding.UTF8.GetBytes(valid);
                    var cut = random.Next(text.Length);
                    return ($"truncated at {cut}", text[..cut]);
                }
            case 1:
                {
                    var text = Encoding.UTF8.GetBytes(valid);
                    var flips = 1 + random.Next(4);
                    for (int f = 0; f < flips; f++) text[random.Next(text.Length)] = (byte)random.Next(256);
                    return ($"{flips} bytes changed", text);
                }
            case 2:
                {
                    var garbage = new byte[random.Next(1, 2000)];
                    random.NextBytes(garbage);
                    return ("garbage", garbage);
                }
            default:
                {
                    var node = JsonNode.Parse(valid)!;
                    var edits = 1 + random.Next(3);
                    var what = new List<string>();
                    for (int e = 0; e < edits; e++) what.Add(Edit(node, random));
                    return (string.Join("; ", what), Encoding.UTF8.GetBytes(node.ToJsonString()));
                }
        }
    }

    /// <summary>One structural edit at a random place of the manifest's tree.</summary>
    private static string Edit(JsonNode root, Random random)
    {
        // Pick a container (the root, the models array or one model) and a key or index in it.
        var containers = new List<JsonNode> { root };
        if (root is JsonObject o && o["models"] is JsonArray models)
        {
            containers.Add(models);
            containers.AddRange(models.Where(m => m is not null)!);
        }
        var container = containers[random.Next(containers.Count)];
        switch (container)
        {
            case JsonObject obj when obj.Count > 0:
                {
                    var key = obj.ElementAt(random.Next(obj.Count)).Key;
                    var kind = random.Next(3);
                    if (kind == 0)
                    {
                        obj.Remove(key);
                        return $"removed {key}";
                    }
                    var value = Value(random, obj[key]);
                    obj[key] = value;
                    return $"{key} = {value?.ToJsonString() ?? "null"}";
                }
            case JsonArray array:
                {
                    var kind = random.Next(4);
                    if (kind == 0 || array.Count == 0)
                    {
                        array.Add(array.Count > 0 ? array[random.Next(array.Count)]?.DeepClone() : null);
                        return "models: an entry repeated or null added";
                    }
                    var at = random.Next(array.Count);
                    if (kind == 1)
                    {
                        array.RemoveAt(at);
                        return $"models: entry {at} removed";
                    }
                    array[at] = Value(random, array[at]);
                    return $"models: entry {at} replaced";
                }
            default:
                return "nothing";
        }
    }

    private static JsonNode? Value(Random random, JsonNode? old) => random.Next(16) switch
    {
        0 => null,
        1 => JsonValue.Create(""),
        2 => JsonValue.Create(-1),
        3 => JsonValue.Create(long.MaxValue),
        4 => JsonValue.Create(long.MinValue),
        5 => JsonValue.Create(1e300),
        6 => JsonValue.Create(true),
        7 => new JsonArray(JsonValue.Create(1), JsonValue.Create("x")),
        8 => new JsonObject { ["a"] = 1 },
        9 => JsonValue.Create("../outside.state"),
        10 => JsonValue.Create("/etc/hostname"),
        11 => JsonValue.Create(new string('z', 100_000)),
        12 => JsonValue.Create("manifest.json"),
        13 => JsonValue.Create(0),
        14 => JsonValue.Create("\0\u0001"),
        _ => old?.DeepClone(),
    };

    private static string Show(byte[] bytes) => bytes.Length > 600 ? Encoding.UTF8.GetString(bytes[..600]) + "..." : Encoding.UTF8.GetString(bytes);
}
