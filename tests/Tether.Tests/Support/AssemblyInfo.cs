using Xunit;

// Issue 13: test classes run in parallel (xunit's default: one collection per class, tests inside a class run one at
// a time). Each class has its own Kestrel server (IClassFixture<ServerFixture>) on its own port, and the Clean check
// looks only at that port, so classes cannot see each other's sockets. Tests that need the process alone are in
// the Tether.WholeProcess.Tests assembly (a process of their own), each with a comment saying why.
