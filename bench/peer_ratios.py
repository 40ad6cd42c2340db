"""Tether vs raw HttpClient ratios from run-peers.sh result files.   peer_ratios.py FILE.jsonl [FILE.jsonl ...]

Pairs each "tether shared" / "tether loop-per-call" cell with the "tether raw HttpClient" cell of the same round
(same driver binary, same scenario, same run; rounds are interleaved so load drifts hit both alike) and prints the
median over rounds of: client CPU per request (target <= 1.03x raw), req/s, and allocated bytes per request. With
several files (runs of the same binary), the rounds of every file are pooled: the median is over all of them.
"""
import json
import re
import statistics
import sys

rows = []
for run, path in enumerate(sys.argv[1:]):
    for line in open(path):
        r = json.loads(line) if line.strip() else None
        if r and not r.get("meta") and r.get("result"):
            r["run"] = run
            rows.append(r)
RAW, MODES = "tether raw HttpClient", ("tether shared", "tether loop-per-call")


def split(name):
    m = re.fullmatch(r"(.*?)(?: #(\d+))?", name)
    return m.group(1), int(m.group(2) or 1)


cells = {}
for r in rows:
    base, rnd = split(r["client"])
    cells[(r["scenario"], base, (r["run"], rnd))] = r["result"]
scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
rounds = sorted({k[2] for k in cells})
print(f"Tether vs raw HttpClient in the same driver binary, median over {len(rounds)} interleaved round(s).")
print("CPU = client user+sys CPU per completed request; alloc = GC.GetTotalAllocatedBytes delta per request.\n")
print("| scenario | client | CPU µs/req | raw CPU µs/req | CPU vs raw | req/s vs raw | alloc B/req | raw alloc B/req "
      "| alloc Δ B/req | p50 ms (raw) | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
med = lambda xs: statistics.median(xs) if xs else None
fmt = lambda x, nd=2: "–" if x is None else f"{x:,.{nd}f}"
for s in scenarios:
    for mode in MODES:
        cpu, rawcpu, cr, rr, al, ral, p50, rp50, errs = [], [], [], [], [], [], [], [], 0
        for rnd in rounds:
            t, b = cells.get((s, mode, rnd)), cells.get((s, RAW, rnd))
            if not t or not b or not t.get("requests") or not b.get("requests"):
                continue
            cpu.append(t["cpu_us_per_req"]); rawcpu.append(b["cpu_us_per_req"])
            cr.append(t["cpu_us_per_req"] / b["cpu_us_per_req"]); rr.append(t["rps"] / b["rps"])
            if t.get("alloc_bytes_per_req") is not None and b.get("alloc_bytes_per_req") is not None:
                al.append(t["alloc_bytes_per_req"]); ral.append(b["alloc_bytes_per_req"])
            p50.append(t["p50_ms"]); rp50.append(b["p50_ms"]); errs += t["errors"]
        if not cr:
            continue
        dal = med([a - b for a, b in zip(al, ral)])
        print(f"| {s} | {mode} | {fmt(med(cpu), 1)} | {fmt(med(rawcpu), 1)} | {fmt(med(cr))}× | {fmt(med(rr))}× | "
              f"{fmt(med(al), 0)} | {fmt(med(ral), 0)} | {fmt(dal, 0)} | {fmt(med(p50), 3)} ({fmt(med(rp50), 3)}) | {errs} |")

# Counters that hold up under load (fourth hot-path pass): thread-pool work items and lock contentions per request,
# and the JIT work inside the measured window (hot code still being tiered up; present only in newer driver output).
if any("jit_ms" in r["result"] for r in rows):
    print("\nInside the measured window (median over rounds): work items/req, lock contentions/req, methods JIT-compiled, JIT ms.\n")
    print("| scenario | client | work items/req | lock contentions/req | JIT methods | JIT ms |")
    print("|---|---|---:|---:|---:|---:|")
    for s in scenarios:
        for mode in (RAW,) + MODES:
            got = [cells[(s, mode, rnd)] for rnd in rounds if (s, mode, rnd) in cells and "jit_ms" in cells[(s, mode, rnd)]]
            if not got:
                continue
            col = lambda k: med([g[k] for g in got if g.get(k) is not None])
            print(f"| {s} | {mode} | {fmt(col('work_items_per_req'))} | {fmt(col('lock_contentions_per_req'), 3)} | "
                  f"{fmt(col('jit_methods'), 0)} | {fmt(col('jit_ms'), 0)} |")
