#!/usr/bin/python3
"""Leaks socketpairs on purpose, for census and `tether watch` tests.

usage: leak_socketpairs.py INTERVAL_MS MAX_PAIRS MAX_SECONDS

Prints "pid <PID>" first, then "pairs <N>" after each socketpair it creates and keeps (2 unix
sockets each). After MAX_PAIRS pairs it stays idle (flat) until MAX_SECONDS have passed since the
start, then exits 0, so it always stops by itself. MAX_PAIRS 0 gives a flat process.
"""
import os
import socket
import sys
import time


def main():
    if len(sys.argv) != 4:
        sys.stderr.write("usage: leak_socketpairs.py INTERVAL_MS MAX_PAIRS MAX_SECONDS\n")
        return 2
    interval = max(int(sys.argv[1]), 1) / 1000.0
    max_pairs = max(int(sys.argv[2]), 0)
    max_seconds = min(max(float(sys.argv[3]), 0.0), 3600.0)
    deadline = time.monotonic() + max_seconds
    kept = []
    print("pid %d" % os.getpid(), flush=True)
    while time.monotonic() < deadline:
        if len(kept) < max_pairs:
            kept.append(socket.socketpair())
            print("pairs %d" % len(kept), flush=True)
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
