"""Iteration rate and TIME_WAIT per iteration from one run-loop-leak.sh result file.   leak_rates.py FILE.jsonl

iterations/s = iterations between the sample at iteration 10 and the last "iter" sample / the time between them
(steady state: leaves out start-up, imports and .NET's JIT of the first iterations; the same few samples fall in that
window for every driver). TIME_WAIT/iter = (client + server side TIME_WAIT on the driver's own port
after settling) / iterations done. Ratios are vs the fastest Tornado row and the aiohttp row of the same run.
"""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
drivers = list(dict.fromkeys(r["driver"] for r in rows if not r.get("meta")))
out = {}
for d in drivers:
    rs = [r for r in rows if r.get("driver") == d]
    it = [r for r in rs if r.get("kind") == "sample" and r["label"] == "iter"]
    settled = next((r for r in rs if r.get("kind") == "sample" and r["label"] == "settled"), None)
    summ = next((r for r in rs if r.get("kind") == "summary"), None)
    if len(it) < 2 or not summ:
        continue
    first, last = it[0], it[-1]
    at10 = next((r for r in it if r["iter"] == 10), first)
    rate = (last["iter"] - at10["iter"]) / (last["t_s"] - at10["t_s"]) if last["t_s"] > at10["t_s"] else None
    dfd = (last["fds"] - at10["fds"]) / max(1, last["iter"] - at10["iter"])
    tw = (settled["time_wait_client"] + settled["time_wait_server"]) if settled else None
    n = summ["iters_done"] or 1
    out[d] = dict(rate=rate, dfd=dfd, fds=(first["fds"], last["fds"]), tw=tw, twpi=None if tw is None else tw / n,
                  ok=summ["ok"], err=summ["errors"], est=last["tcp_established"])
torn = max((v["rate"] for k, v in out.items() if k.startswith("tornado") and v["rate"] and v["err"] == 0), default=None)
aio = next((v["rate"] for k, v in out.items() if k.startswith("aiohttp")), None)
print("| driver | iters ok / err | iterations/s | vs best Tornado | vs aiohttp | fds before → @N | Δ fds/iter (10→N) "
      "| TCP ESTAB @N | TIME_WAIT settled | TIME_WAIT / iter |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for d, v in out.items():
    r = v["rate"]
    print(f"| {d} | {v['ok']} / {v['err']} | {r:,.0f} | {r / torn:.1f}× | {r / aio:.1f}× | {v['fds'][0]} → {v['fds'][1]} | "
          f"{v['dfd']:+.3f} | {v['est']} | {v['tw']} | {v['twpi']:.3f} |" if r and torn and aio else
          f"| {d} | {v['ok']} / {v['err']} | {r} | – | – | {v['fds'][0]} → {v['fds'][1]} | {v['dfd']:+.3f} | {v['est']} | {v['tw']} | {v['twpi']} |")
print("\n'best Tornado' = the fastest Tornado row that completed more than one iteration "
      "without errors (Debian's 6.2 'seed' row fails from iteration 2, so its rate measures failures).")
