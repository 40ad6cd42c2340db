using System.Text;
using CsCheck;
using Xunit;

namespace Tether.Tests.Http;

/// <summary>Property tests of the redirect resolver (issue 15: "keep a fuzz or property test on the redirect
/// resolver"): Location decoding and resolution, the scheme and downgrade checks, and the method rule.</summary>
public sealed class RedirectResolverPropertyTests
{
    private static Gen<T> Pick<T>(params T[] items) => Gen.Int[0, items.Length - 1].Select(i => items[i]);

    private static readonly Uri Base = new("http://127.0.0.1:8080/dir/page?x=1");

    // Path text with ASCII, Latin-1, BMP and astral characters, and the reserved characters a path may hold.
    private static readonly Gen<string> PathText =
        Gen.Frequency(
            (4, Gen.Char["abcxyz0123-._~"]),
            (1, Gen.Char["/?=&%"]),
            (2, Gen.Char['\u00a0', '\u00ff']),
            (2, Gen.Char['\u0100', '\ud7ff']),
            (1, Gen.Const('\u20ac')))
        .Array[0, 24].Select(chars => new string(chars));

    [Fact]
    [Trait("Spec", "HTTP-08")]
    public void HTTP_08_raw_utf8_location_octets_decode_to_the_text_that_was_encoded() =>
        // The pool decodes header bytes as Latin-1; RecoverUtf8 must give back exactly the UTF-8 text the server meant.
        PathText.Sample(text =>
        {
            var latin1 = Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(text));
            Assert.Equal(text, Redirects.RecoverUtf8(latin1));
        });

    [Fact]
    [Trait("Spec", "HTTP-08")]
    public void HTTP_08_a_resolved_location_is_what_Uri_resolution_of_the_decoded_text_gives() =>
        PathText.Sample(text =>
        {
            var location = "/p/" + text; // not "//": that is a network-path reference (another host)
            var resolved = Redirects.Resolve(Base, Redirects.RecoverUtf8(Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(location))));
            if (Uri.TryCreate(Base, location, out var expected))
            {
                Assert.NotNull(resolved);
                Assert.Equal(expected.AbsoluteUri, resolved!.AbsoluteUri);
                Assert.Equal("127.0.0.1", resolved.Host);
                Assert.Equal(8080, resolved.Port);
                // What goes on the request line is ASCII (non-ASCII percent-encoded as UTF-8).
                Assert.True(resolved.PathAndQuery.All(c => c < 128), resolved.PathAndQuery);
            }
        });

    [Fact]
    [Trait("Spec", "HTTP-08")]
    public void HTTP_08_any_location_text_resolves_to_an_absolute_uri_or_nothing() =>
        Gen.String.Sample(text =>
        {
            var resolved = Redirects.Resolve(Base, text);
            Assert.True(resolved is null || resolved.IsAbsoluteUri);
        });

    [Fact]
    [Trait("Spec", "HTTP-08")]
    public void HTTP_08_protocol_relative_location_keeps_the_scheme_and_takes_host_and_port() =>
        Gen.Select(Gen.Int[1, 65535], Gen.Char["abcdefgh"].Array[1, 8]).Sample((port, host) =>
        {
            var name = new string(host) + ".test";
            foreach (var scheme in new[] { "http", "https" })
            {
                var resolved = Redirects.Resolve(new Uri($"{scheme}://origin.test/a/b"), $"//{name}:{port}/p?q=1");
                Assert.NotNull(resolved);
                Assert.Equal(scheme, resolved!.Scheme);
                Assert.Equal(name, resolved.Host);
                Assert.Equal(port, resolved.Port);
                Assert.Equal("/p?q=1", resolved.PathAndQuery);
            }
        });

    [Fact]
    [Trait("Spec", "HTTP-03")]
    public void HTTP_03_only_http_and_https_are_followed_and_https_never_downgrades_silently() =>
        Gen.Select(Pick("http", "https", "ftp", "file", "javascript", "data", "ws"), Pick("http", "https"), Gen.Bool)
            .Sample((nextScheme, currentScheme, allowInsecure) =>
            {
                var current = new Uri($"{currentScheme}://a.test/x#frag");
                var next = new Uri(nextScheme == "file" ? "file:///etc/passwd" : $"{nextScheme}://b.test/y");
                var refused = false;
                Uri? result = null;
                try
                {
                    result = Redirects.Check(current, next, allowInsecure, m => new InvalidOperationException(m));
                }
                catch (InvalidOperationException)
                {
                    refused = true;
                }

                var allowed = nextScheme is "http" or "https" && !(currentScheme == "https" && nextScheme == "http" && !allowInsecure);
                Assert.Equal(!allowed, refused);
                if (result is not null)
                {
                    Assert.Equal("#frag", result.Fragment); // inherited (RFC 9110 §10.2.2)
                    Assert.False(Redirects.SameOrigin(current, result));
                }
            });

    [Fact]
    [Trait("Spec", "HTTP-01")]
    public void HTTP_01_method_rule_follows_RFC_9110_section_15_4() =>
        Gen.Select(Pick(301, 302, 303, 307, 308), Pick("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"))
            .Sample((code, method) =>
            {
                var after = Redirects.MethodAfter(code, method);
                var expected = code switch
                {
                    301 or 302 => method == "POST" ? "GET" : method,
                    303 => method == "HEAD" ? "HEAD" : "GET",
                    _ => method,
                };
                Assert.Equal(expected, after);
                Assert.Equal(after != method, Redirects.ChangesToGet(code, method));
            });

    [Fact]
    [Trait("Spec", "HTTP-03")]
    public void HTTP_03_stripping_removes_every_credential_and_keeps_the_rest() =>
        Gen.Select(Pick("Authorization", "authorization", "Cookie", "COOKIE", "Proxy-Authorization", "X-Other", "Content-Type"), Gen.String[0, 10])
            .Array[0, 8].Sample(pairs =>
            {
                var headers = new FetchHeaders();
                foreach (var (name, value) in pairs)
                {
                    headers.Add(name, value.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));
                }

                Redirects.StripCredentials(headers);
                Assert.False(headers.Contains("Authorization") || headers.Contains("Cookie") || headers.Contains("Proxy-Authorization"));
                Assert.Equal(pairs.Count(p => p.Item1 is "X-Other" or "Content-Type"), headers.Count);
            });
}
