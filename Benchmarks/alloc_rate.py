#!/usr/bin/env python3
"""TURN allocation rate, switchboard vs coturn: authenticated Allocates per second, server CPU per allocation, and
server memory (VmRSS) per allocation once COUNT allocations are open.

Per run: a fresh server; VmRSS when idle; then alloc_flood (C) makes COUNT allocations as fast as the server answers,
each on its own client socket (Allocate -> 401 -> authenticated Allocate, the same messages as turn_control.py),
IN_FLIGHT allocations under way at once; only successes count. Server CPU (utime+stime from /proc/PID/stat) is read
around the burst; VmRSS again 1 s after it. The allocations stay open until the server is stopped (every run starts
a fresh server). Servers alternate ours/coturn ROUNDS times. Run through the `turn-allocate` wrapper (ulimit -n).

Why a C generator and not turn_control.py: the Python control plane also reaches ~16,000 allocations/s here, but
it spends 0.5-0.65 of a core doing so, against ~0.3 for alloc_flood, and on 2 cores that is taken from the server.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def build():
    return B.build_tool("alloc_flood", libs=("-lcrypto",))


def one_run(kind, exe, args, workdir, run_name):
    """One fresh server, one burst of args.count allocations. Returns the parsed alloc_flood line plus server figures."""
    server = B.Server(kind, workdir).start(run_name)
    try:
        B.wait_for_quiet(max_wait=5)  # also lets the server settle before the idle RSS reading
        rss0 = server.rss_kib()
        cpu0, busy0 = server.cpu_seconds(), B.machine_busy_seconds()
        res = subprocess.run([exe, "127.0.0.1", str(server.port), str(args.count), str(args.in_flight),
                              B.USER, B.PASSWORD], capture_output=True, text=True, timeout=180)
        cpu1, busy1 = server.cpu_seconds(), B.machine_busy_seconds()
        time.sleep(1.0)  # let the server settle before reading RSS
        if not server.alive():
            raise RuntimeError(f"{kind} died during the allocation run (exit {server.proc.returncode}); see {server.log_path}")
        rss1 = server.rss_kib()
        threads = server.threads()
    finally:
        code = server.stop()
    if not res.stdout.strip():
        raise RuntimeError(f"{kind}: alloc_flood exit {res.returncode}: {res.stderr}")
    r = B.parse_kv(res.stdout)
    r["exit"] = res.returncode
    ok = r["ok"]
    r["server_cpu_s"] = cpu1 - cpu0
    r["cpu_us_per_alloc"] = (cpu1 - cpu0) * 1e6 / ok if ok else float("nan")
    r["server_cpu_cores"] = (cpu1 - cpu0) / r["elapsed_s"]
    r["generator_cpu_cores"] = r["generator_cpu_s"] / r["elapsed_s"]
    r["rss_idle_kib"], r["rss_kib"] = rss0, rss1
    r["kib_per_alloc"] = (rss1 - rss0) / ok if ok else float("nan")
    r["threads"] = threads
    # Everything else on the machine during the burst (includes alloc_flood opening its sockets, before its clock).
    wall = max(r["elapsed_s"], 1e-9)
    r["other_cpu_cores"] = max(0.0, (busy1 - busy0) - r["server_cpu_s"] - r["generator_cpu_s"]) / wall
    print(f"{kind:6} {run_name}: {res.stdout.strip()} server_cpu_us_per_alloc={r['cpu_us_per_alloc']:.1f} "
          f"server_cpu_cores={r['server_cpu_cores']:.2f} rss_idle_kib={rss0} rss_kib={rss1} "
          f"kib_per_alloc={r['kib_per_alloc']:.2f} server_threads={threads} exit={code}", flush=True)
    if res.stderr.strip():
        print(f"       alloc_flood: {res.stderr.strip()}", flush=True)
    server.print_notable_log_lines()
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--count", type=int, default=10000, help="allocations per run (relay range holds 11,000)")
    p.add_argument("--in-flight", type=int, default=256, help="allocations under way at once")
    p.add_argument("--only", choices=["ours", "coturn"], help="run one server only")
    p.add_argument("--json", help="also write the medians to this file (Benchmarks/compare-coturn reads it)")
    args = p.parse_args()

    B.raise_fd_limit()
    B.require_coturn()
    B.build_switchboard()
    exe = build()
    workdir = os.path.join(B.TOOLS, "logs", "turn-allocate")
    kinds = [args.only] if args.only else ["ours", "coturn"]
    print(f"# turn-allocate {datetime.date.today()} on {os.cpu_count()} CPUs: {args.count} allocations per run, "
          f"{args.in_flight} in flight, {args.rounds} rounds alternating {'/'.join(kinds)}")
    print(f"# server logs: {workdir}")
    results = {k: [] for k in kinds}
    for rnd in range(1, args.rounds + 1):
        for kind in kinds:
            results[kind].append(one_run(kind, exe, args, workdir, f"{kind}-round{rnd}"))

    keys = ("allocations_per_s", "cpu_us_per_alloc", "p50_us", "p99_us", "retransmits", "failed", "kib_per_alloc",
            "server_cpu_cores", "generator_cpu_cores")
    med = {k: {m: B.median([r[m] for r in results[k]]) for m in keys} for k in kinds}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(med, f, indent=1)
    print()
    print(f"Medians of {args.rounds} runs:")
    print(B.table(["server", "allocations/s", "server CPU µs/allocation", "p50 µs", "p99 µs", "retransmits", "failed",
                   f"KiB/alloc @{args.count}", "server CPU cores", "generator CPU cores"],
                  [[k, f"{med[k]['allocations_per_s']:.0f}", f"{med[k]['cpu_us_per_alloc']:.1f}", f"{med[k]['p50_us']:.0f}",
                    f"{med[k]['p99_us']:.0f}", f"{med[k]['retransmits']:.0f}", f"{med[k]['failed']:.0f}",
                    f"{med[k]['kib_per_alloc']:.2f}", f"{med[k]['server_cpu_cores']:.2f}",
                    f"{med[k]['generator_cpu_cores']:.2f}"] for k in kinds]))
    if len(kinds) == 2:
        o, c = med["ours"], med["coturn"]
        print()
        print(f"allocations/s ours/coturn:          {B.ratio(o['allocations_per_s'], c['allocations_per_s']):.2f}x  (target >= 1.5x)")
        print(f"CPU per allocation ours/coturn:     {B.ratio(o['cpu_us_per_alloc'], c['cpu_us_per_alloc']):.2f}x")
        print(f"RSS per allocation ours/coturn:     {B.ratio(o['kib_per_alloc'], c['kib_per_alloc']):.2f}x  (target <= 0.5x)")


if __name__ == "__main__":
    main()
