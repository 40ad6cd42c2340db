#!/usr/bin/env bash
# Tether's seed loop beside Tornado, aiohttp and HttpClient: runs ../shared/peers/run-loop-leak.sh with Tether
# drivers added (EXTRA_DRIVERS).
#   bench/run-loop-leak.sh                  # ITER=300
#   ITER=1000 TORNADO_SRC=/tmp/tornado-src bench/run-loop-leak.sh
# Env: everything run-loop-leak.sh takes (ITER EVERY SETTLE_S SERVER_IDLE_S PORT MAX_SECS ONLY RESULTS_DIR
#      TORNADO_SRC EXTRA_DRIVERS), plus PEERS_DIR, PEERS_IN_PLACE, PEERS_WORK (see peers-common.sh).
# Drivers added:  "tether seed loop, process pool"  EventLoop.Run + new AsyncHttpClient { Pool = Process } + one fetch
#                 "tether seed loop, private pool"  EventLoop.Run + new AsyncHttpClient() + one fetch
# Output: the harness's table, then iterations/s and TIME_WAIT per iteration (bench/leak_rates.py).
set -euo pipefail
source "$(dirname "$0")/peers-common.sh"
extra="tether seed loop, process pool|$DRIVER leak-process"$'\n'
extra+="tether seed loop, private pool|$DRIVER leak-private"$'\n'
export EXTRA_DRIVERS="${EXTRA_DRIVERS:+$EXTRA_DRIVERS$'\n'}$extra"
before=$(load_line)
"$PEERS/run-loop-leak.sh"
after=$(load_line)
latest=$(ls -t "$RESULTS_DIR"/loop-leak-*.jsonl | head -1)
echo
python3 "$BENCH_DIR/leak_rates.py" "$latest"
echo
echo "Load before: $before"
echo "Load after:  $after"
echo "Raw results: $latest"
