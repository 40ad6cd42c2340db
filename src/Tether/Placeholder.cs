namespace Tether; internal static class Placeholder { }
