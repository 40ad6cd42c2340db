using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace Tether.Diagnostics;

/// <summary>Captures the user's allocation site: the first stack frame outside Tether.</summary>
/// <remarks>By default one frame as "Type.Method (File:line)"; with <see cref="FullStackTraces"/> the whole trace.
/// The cost is a stack walk per allocation, paid once per client, response or connection (not per byte).</remarks>
public static class CallSite
{
    private static readonly Assembly s_tether = typeof(CallSite).Assembly;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Assembly, bool> s_frameworkAssemblies = new();
    private const int MaxCachedSites = 4096;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(IntPtr Method, int ILOffset), string> s_sites = new();
    // The last site with file and line seen per method: a frame of optimized (tier-1) code may have no IL offset and so
    // no line, and the same call site must not be named two ways (leak warnings are de-duplicated by site).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<IntPtr, string> s_methodSites = new();

    /// <summary>When true, allocation sites carry the full stack trace instead of one frame (POOL-14 opt-in).
    /// Default false.</summary>
    public static bool FullStackTraces { get; set; }

    // Sites of constructors and EventLoop.Run keyed by the compiler-supplied caller file, line and member, so that a
    // call site walks the stack once, not on every client or loop it creates (CORE-08: a loop per call at raw HttpClient
    // cost). Issue 16 review finding: keyed by file and line alone, two methods on one source line shared the first one's
    // name, and a site whose first user frame was not the compiler's caller (the caller inlined into its own caller, or
    // a stale line of optimized code) was cached under the caller's line, so every later call there got that name.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string File, int Line, string Member), string> s_callerSites = new();

    /// <summary>The allocation site of a call whose caller file, line and member the compiler supplied
    /// (<see cref="System.Runtime.CompilerServices.CallerFilePathAttribute"/>): the same text as <see cref="Capture()"/>,
    /// but the stack is walked only the first time that call site is seen (a walk costs ~5 µs; a lookup ~50 ns). Only a
    /// walk that found exactly that caller (its file and line, or its method when the frame has no line) is remembered;
    /// any other is not a function of the key and is walked again each time.</summary>
    internal static string Capture(string callerFilePath, int callerLineNumber, string callerMemberName)
    {
        if (FullStackTraces || callerLineNumber <= 0 || string.IsNullOrEmpty(callerFilePath))
        {
            return Capture();
        }

        var key = (callerFilePath, callerLineNumber, callerMemberName);
        if (s_callerSites.TryGetValue(key, out var site))
        {
            return site;
        }

        site = Capture();
        var location = $" ({Path.GetFileName(callerFilePath)}:{callerLineNumber})";
        var exact = site.EndsWith(location, StringComparison.Ordinal);
        if (!exact)
        {
            // No line (optimized code), or the line this method's site had elsewhere: if the frame is the caller's
            // method, the compiler's file and line are exact.
            var open = site.EndsWith(')') ? site.LastIndexOf(" (", StringComparison.Ordinal) : -1;
            var name = open > 0 ? site[..open] : site;
            if (callerMemberName.Length > 0 && name.EndsWith("." + UserMethodName(typeof(CallSite), callerMemberName), StringComparison.Ordinal))
            {
                site = name + location;
                exact = true;
            }
        }

        if (exact && s_callerSites.Count < MaxCachedSites)
        {
            s_callerSites.TryAdd(key, site);
        }

        return site;
    }

    /// <summary>Captures the first frame outside the Tether assembly.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Diagnostics only; degrades to 'unknown'.")]
    internal static string Capture()
    {
        if (FullStackTraces)
        {
            return new StackTrace(1, fNeedFileInfo: true).ToString().TrimEnd();
        }

        // Walk without file info (cheap, opens nothing), then ask for file and line of the one user frame only, so
        // only the user's own symbol file is ever read.
        var frames = new StackTrace(1, fNeedFileInfo: false).GetFrames();
        for (var i = 0; i < frames.Length; i++)
        {
            var method = frames[i].GetMethod();
            var type = method?.DeclaringType;
            if (method is null || type is null || IsTetherOrPlumbing(type))
            {
                continue;
            }

            // The same method at the same IL offset always formats the same: file, line and name are resolved once
            // per call site, not per capture (the symbol lookup and formatting were most of the cost).
            var key = (method.MethodHandle.Value, frames[i].GetILOffset());
            if (key.Item2 != StackFrame.OFFSET_UNKNOWN && s_sites.TryGetValue(key, out var cached))
            {
                return cached;
            }

            var name = $"{Clean(type)}.{UserMethodName(type, method.Name)}";
            var withFile = new StackFrame(i + 1, needFileInfo: true);
            var file = withFile.GetMethod() == method ? withFile.GetFileName() : null;
            if (file is null)
            {
                // No line for this frame (optimized code): the name this method's site had with its line, if any.
                return s_methodSites.TryGetValue(key.Item1, out var known) ? known : name;
            }

            var site = $"{name} ({Path.GetFileName(file)}:{withFile.GetFileLineNumber()})";
            if (s_methodSites.Count < MaxCachedSites)
            {
                s_methodSites[key.Item1] = site;
            }

            if (key.Item2 != StackFrame.OFFSET_UNKNOWN && s_sites.Count < MaxCachedSites)
            {
                s_sites.TryAdd(key, site);
            }

            return site;
        }

        return "unknown";
    }

    /// <summary>Tether's own assemblies (the library and its extension packages) and the frameworks that call into
    /// them on the user's behalf (DI containers, HttpClient and its handler pipelines, the runtime's async plumbing)
    /// are never the allocation site.</summary>
    private static bool IsTetherOrPlumbing(Type type)
    {
        if (type.Assembly == s_tether)
        {
            return true;
        }

        return s_frameworkAssemblies.GetOrAdd(type.Assembly, static a =>
            {
                var name = a.GetName().Name ?? string.Empty;
                // HttpClient and its handler chains (IHttpClientFactory, resilience pipelines) call the bridge for the
                // user: the site of a bridged request is the code that called HttpClient.
                return name.StartsWith("Tether.Extensions.", StringComparison.Ordinal)
                    || name.StartsWith("Microsoft.Extensions.DependencyInjection", StringComparison.Ordinal)
                    || name == "System.Net.Http"
                    || name.StartsWith("Microsoft.Extensions.Http", StringComparison.Ordinal)
                    || name.StartsWith("Polly", StringComparison.Ordinal);
            })
            || IsRuntimePlumbing(type);
    }

    private static bool IsRuntimePlumbing(Type type)
    {
        var ns = type.Namespace ?? string.Empty;
        // Lazy<T>: IHttpClientFactory builds a UseTether() handler inside Lazy<T>.Value, called from CreateClient; the
        // site is the code that called CreateClient, not "System.Lazy`1.ViaFactory" (review 2026-12-02).
        return ns.StartsWith("System.Runtime.CompilerServices", StringComparison.Ordinal)
            || ns.StartsWith("System.Threading", StringComparison.Ordinal)
            || (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Lazy<>));
    }

    private static string UserMethodName(Type type, string method)
    {
        // MoveNext of <Main>d__0 and lambdas like <Main>b__0_0 are compiler names: recover "Main".
        var source = method.StartsWith('<') ? method : type.Name.StartsWith('<') && method == "MoveNext" ? type.Name : null;
        if (source is not null)
        {
            // A local function (<Main>g__Fetch|0_0, also inside top-level statements' <<Main>$>) is named after "g__".
            var local = source.IndexOf("g__", StringComparison.Ordinal);
            if (local >= 0)
            {
                var bar = source.IndexOf('|', local);
                return bar > local + 3 ? source[(local + 3)..bar] : source[(local + 3)..];
            }

            var trimmed = source.TrimStart('<');
            var end = trimmed.IndexOf('>', StringComparison.Ordinal);
            if (end > 0)
            {
                return trimmed[..end];
            }
        }

        return method;
    }

    private static string Clean(Type type)
    {
        // Async state machines and lambdas are nested compiler types like <Main>d__0 or <>c; show the user's type.
        while (type.DeclaringType is not null && type.Name.Contains('<', StringComparison.Ordinal))
        {
            type = type.DeclaringType;
        }

        return type.FullName ?? type.Name;
    }
}
