#!/usr/bin/env bash
# Seed loop cost per iteration, client side: Tether's seed loop vs Tornado and aiohttp, same server, same run.
# Each driver of the loop-leak harness runs twice (N1 and N2 iterations, client pinned to CPU 0, the harness's
# loopleak/server.py pinned to CPU 1); the difference cancels start-up, imports and JIT, leaving the marginal
# cost of one iteration:  CPU ms/iter = (cpu(N2) - cpu(N1)) / (N2 - N1), and wall likewise (-> iterations/s).
#   bench/seed-cpu.sh            # N1=50 N2=550
# Env: N1 N2 PORT(18190) CLIENT_CPU(0) SERVER_CPU(1), plus PEERS_DIR, PEERS_IN_PLACE, PEERS_WORK (peers-common.sh).
set -euo pipefail
source "$(dirname "$0")/peers-common.sh"
N1=${N1:-50} N2=${N2:-550} PORT=${PORT:-18190} CLIENT_CPU=${CLIENT_CPU:-0} SERVER_CPU=${SERVER_CPU:-1}
PY=/usr/bin/python3
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
(cd "$PEERS" && ./build.sh)
[[ -z $(ss -Htln "sport = :$PORT") ]] || { echo "port $PORT is in use" >&2; exit 1; }
taskset -c "$SERVER_CPU" $PY "$PEERS/clients/loopleak/server.py" "$PORT" 1 2>/dev/null &   # RST tracebacks from aborted conns
SPID=$!
trap 'kill $SPID 2>/dev/null || true; wait $SPID 2>/dev/null || true' EXIT
for _ in $(seq 50); do [[ -n $(ss -Htln "sport = :$PORT") ]] && break; sleep 0.1; done
URL=http://127.0.0.1:$PORT/
DRIVERS=(
  "tornado (Debian) client inside asyncio.run|$PY $PEERS/clients/loopleak/py_loop_leak.py tornado-inside"
  "aiohttp ClientSession per asyncio.run|$PY $PEERS/clients/loopleak/py_loop_leak.py aiohttp"
  "dotnet new HttpClient/iter, Dispose|$PEERS/clients/dotnet-leak/bin/LoopLeak new-dispose"
  "tether seed loop, process pool|$DRIVER leak-process"
  "tether seed loop, private pool|$DRIVER leak-private"
)
measure() {   # <n> <command...>: one JSON line {wall, cpu, ok, errors} for the child process tree
  $PY - "$@" <<'PY'
import json, resource, subprocess, sys, time
n, cmd = sys.argv[1], sys.argv[2:]
t = time.monotonic()
p = subprocess.run(cmd[:-1] + [cmd[-1], n, n, "0", "120"], capture_output=True, text=True, timeout=300)
wall = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
s = next((json.loads(l) for l in reversed(p.stdout.splitlines()) if '"summary"' in l), {})
print(json.dumps({"wall": wall, "cpu": r.ru_utime + r.ru_stime, "ok": s.get("ok"), "errors": s.get("errors")}))
PY
}
echo "load: $(load_line)" >&2
rows=()
for d in "${DRIVERS[@]}"; do
  IFS='|' read -r name cmd <<<"$d"
  echo "[$(date +%T)] $name" >&2
  # shellcheck disable=SC2086
  a=$(measure "$N1" taskset -c "$CLIENT_CPU" $cmd "$URL")
  # shellcheck disable=SC2086
  b=$(measure "$N2" taskset -c "$CLIENT_CPU" $cmd "$URL")
  rows+=("$name|$a|$b")
done
printf '%s\n' "${rows[@]}" | $PY -c '
import json, sys
n1, n2 = int(sys.argv[1]), int(sys.argv[2])
res = []
for line in sys.stdin:
    name, a, b = line.rstrip("\n").split("|")
    a, b = json.loads(a), json.loads(b)
    cpu = (b["cpu"] - a["cpu"]) / (n2 - n1) * 1e3
    wall = (b["wall"] - a["wall"]) / (n2 - n1) * 1e3
    oke = "%s+%s / %s+%s" % (a["ok"], b["ok"], a["errors"], b["errors"])
    res.append((name, cpu, wall, oke))
base = next(r for r in res if r[0].startswith("tornado"))
print(f"Marginal cost of one seed-loop iteration ({n2} - {n1} iterations), client pinned to one CPU.\n")
print("| driver | ok / errors | client CPU ms/iter | CPU vs Tornado | wall ms/iter | iterations/s | iterations/s vs Tornado |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, cpu, wall, oke in res:
    print(f"| {name} | {oke} | {cpu:.3f} | {cpu / base[1]:.2f}× | {wall:.3f} | {1e3 / wall:,.0f} | {base[2] / wall:.1f}× |")
' "$N1" "$N2"
echo
echo "Load after: $(load_line)"
