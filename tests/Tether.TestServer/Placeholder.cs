namespace Tether.TestServer; internal static class Placeholder { }
