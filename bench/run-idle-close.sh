#!/usr/bin/env bash
# CORE-09: TIME_WAIT on the client vs resets seen by the server, per idle-close mode (docs/benchmarks.md,
# "Idle close modes"). Self-contained: the driver runs its own raw-socket HTTP/1.1 server on 127.0.0.1.
#   CONNECTIONS=200 ROUNDS=3 bench/run-idle-close.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS="${CONNECTIONS:-200}"
ROUNDS="${ROUNDS:-3}"
dotnet build bench/Tether.PeerDriver -c Release -v q -nologo >/dev/null
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), connections=$CONNECTIONS rounds=$ROUNDS" >&2
dotnet bench/Tether.PeerDriver/bin/Release/net10.0/Tether.PeerDriver.dll idle-close "$CONNECTIONS" "$ROUNDS"
