namespace Tether.Analyzers { internal static class P { } }
