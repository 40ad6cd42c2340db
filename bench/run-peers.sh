#!/usr/bin/env bash
# Tether beside its peers: runs ../shared/peers/run-peers.sh with Tether columns added (EXTRA_CLIENTS).
#   bench/run-peers.sh                      # all scenarios, SECS=3 WARMUP=1
#   SECS=5 ROUNDS=3 bench/run-peers.sh      # 3 interleaved rounds of the Tether/raw columns (median ratios)
#   ONLY='tether|raw|HttpClient \(shared\)' SCEN='hello' bench/run-peers.sh
# Env: everything run-peers.sh takes (SECS WARMUP PORT ONLY SCEN CLIENT_CPU SERVER_CPU RESULTS_DIR BASELINE
#      EXTRA_CLIENTS), plus ROUNDS (1), PEERS_DIR, PEERS_IN_PLACE, PEERS_WORK (see peers-common.sh).
# Columns added:  "tether raw HttpClient"  plain shared HttpClient inside Tether's driver (same binary, baseline)
#                 "tether shared"          one AsyncHttpClient for the process
#                 "tether loop-per-call"   EventLoop.Run + new client on ConnectionPool.Process per request
# Output: the harness's table, then Tether-vs-raw ratios (bench/peer_ratios.py) and the load average.
set -euo pipefail
source "$(dirname "$0")/peers-common.sh"
export SECS=${SECS:-3} WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-1}
extra=
for ((r = 1; r <= ROUNDS; r++)); do
  sfx=; ((ROUNDS > 1)) && sfx=" #$r"
  extra+="tether raw HttpClient$sfx|$DRIVER raw"$'\n'
  extra+="tether shared$sfx|$DRIVER shared"$'\n'
  extra+="tether loop-per-call$sfx|$DRIVER loop-per-call"$'\n'
done
export EXTRA_CLIENTS="${EXTRA_CLIENTS:+$EXTRA_CLIENTS$'\n'}$extra"
before=$(load_line)
"$PEERS/run-peers.sh"
after=$(load_line)
latest=$(ls -t "$RESULTS_DIR"/*.jsonl | grep -v loop-leak | head -1)
echo
python3 "$BENCH_DIR/peer_ratios.py" "$latest"
echo
echo "Load before: $before"
echo "Load after:  $after"
echo "Raw results: $latest"
