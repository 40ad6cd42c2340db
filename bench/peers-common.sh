# Sourced by bench/run-peers.sh and bench/run-loop-leak.sh: finds the peer harness, builds Tether.PeerDriver.
# The harness lives in shared/peers, a sibling of this repository (repo = <root>/main, harness = <root>/shared/peers).
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
PEERS_SRC=${PEERS_DIR:-$REPO_DIR/../shared/peers}
if [[ ! -f $PEERS_SRC/run-peers.sh || ! -f $PEERS_SRC/run-loop-leak.sh ]]; then
  echo "peer harness not found at $PEERS_SRC (expected ../shared/peers next to the repository;" \
       "set PEERS_DIR=/path/to/shared/peers)" >&2
  exit 1
fi
PEERS_SRC=$(cd "$PEERS_SRC" && pwd)

# shared/ is read-only for this repository, but the harness's build.sh writes its drivers' bin/ and obj/ next to
# their sources. So by default the harness runs from a scratch copy (refreshed from shared/ on every run; built
# drivers are kept). PEERS_IN_PLACE=1 runs it where it is instead.
if [[ -n ${PEERS_IN_PLACE:-} ]]; then
  PEERS=$PEERS_SRC
else
  PEERS=${PEERS_WORK:-${TMPDIR:-/tmp}/tether-peers-$(id -u)}
  mkdir -p "$PEERS"
  cp -r "$PEERS_SRC/." "$PEERS/"
  chmod -R u+w "$PEERS"
fi

# Build the Tether driver in Release into a fixed folder (bin/ is git-ignored).
DRIVER_OUT=$BENCH_DIR/Tether.PeerDriver/bin/peer
echo "bench: building Tether.PeerDriver (Release) -> $DRIVER_OUT" >&2
DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet build "$BENCH_DIR/Tether.PeerDriver" -c Release -o "$DRIVER_OUT" \
  -v q -nologo >&2 || { echo "bench: Tether.PeerDriver build failed" >&2; exit 1; }
DRIVER=$DRIVER_OUT/Tether.PeerDriver
[[ -x $DRIVER ]] || { echo "bench: $DRIVER missing after build" >&2; exit 1; }

export RESULTS_DIR=$(realpath -m "${RESULTS_DIR:-${TMPDIR:-/tmp}/tether-bench-results}")
mkdir -p "$RESULTS_DIR"
load_line() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (nproc $(nproc)) at $(date -u +%FT%TZ)"; }
