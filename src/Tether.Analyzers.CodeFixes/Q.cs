namespace Tether.Analyzers { internal static class Q { } }
