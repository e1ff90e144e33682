#!/usr/bin/env python3
"""STUN Binding over UDP, switchboard vs coturn: throughput, latency and server CPU per response.

Starts each server alone on 127.0.0.1, floods it with stun_flood for SECONDS, reads the server's utime+stime
from /proc/PID/stat before and after, and alternates ours/coturn ROUNDS times. Prints per-run lines and a
table of medians with ratios (ours / coturn). Run through the `stun-binding` wrapper (it sets ulimit -n).
"""
import argparse
import json
import datetime
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def one_run(kind, exe, args, workdir, run_name):
    server = B.Server(kind, workdir).start(run_name)
    try:
        # Warm-up outside the measured window: first-request paths, page faults, socket buffers.
        warm = subprocess.run([exe, "127.0.0.1", str(server.port), "1", str(args.window), str(args.sockets)],
                              capture_output=True, text=True, timeout=30)
        if warm.returncode != 0:
            raise RuntimeError(f"{kind}: warm-up got no responses: {warm.stdout}{warm.stderr}")
        B.wait_for_quiet()
        cpu0, busy0 = server.cpu_seconds(), B.machine_busy_seconds()
        res = subprocess.run([exe, "127.0.0.1", str(server.port), str(args.seconds), str(args.window),
                              str(args.sockets)], capture_output=True, text=True, timeout=args.seconds + 30)
        cpu1, busy1 = server.cpu_seconds(), B.machine_busy_seconds()
        if not server.alive():
            raise RuntimeError(f"{kind} died during the run (exit {server.proc.returncode}); see {server.log_path}")
        threads = server.threads()
    finally:
        code = server.stop()
    if res.returncode != 0:
        raise RuntimeError(f"{kind}: stun_flood failed: {res.stdout}{res.stderr}")
    r = B.parse_kv(res.stdout)
    responses = r["responses_per_s"] * r["elapsed_s"]
    r["server_cpu_s"] = cpu1 - cpu0
    r["cpu_us_per_response"] = (cpu1 - cpu0) * 1e6 / responses if responses else float("nan")
    r["server_cpu_cores"] = (cpu1 - cpu0) / r["elapsed_s"]
    r["threads"] = threads
    # Whatever else ran on the machine meanwhile (approximate: softirq time is not always charged to a process).
    r["other_cpu_cores"] = max(0.0, (busy1 - busy0) - r["server_cpu_s"] - r["generator_cpu_s"]) / r["elapsed_s"]
    print(f"{kind:6} {run_name}: {res.stdout.strip()} server_cpu_s={r['server_cpu_s']:.2f} "
          f"cpu_us_per_response={r['cpu_us_per_response']:.2f} server_threads={threads} "
          f"other_cpu_cores={r['other_cpu_cores']:.2f} exit={code}", flush=True)
    server.print_notable_log_lines()
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=int, default=64, help="requests in flight per socket (stun_flood default)")
    p.add_argument("--sockets", type=int, default=4, help="client sockets (stun_flood default)")
    p.add_argument("--only", choices=["ours", "coturn"], help="run one server only")
    p.add_argument("--floor", action="store_true",
                   help="also measure stun_floor.c, a bare recvmmsg/sendmmsg responder: the per-packet syscall floor")
    p.add_argument("--json", help="also write the medians to this file (Benchmarks/compare-coturn reads it)")
    args = p.parse_args()

    B.raise_fd_limit()
    B.require_coturn()
    B.build_switchboard()
    exe = B.build_tool("stun_flood")
    workdir = os.path.join(B.TOOLS, "logs", "stun-binding")
    kinds = [args.only] if args.only else ["ours", "coturn"]
    if args.floor:
        kinds.append("floor")

    print(f"# stun-binding {datetime.date.today()} on {os.cpu_count()} CPUs: {args.seconds:g} s per run, "
          f"window {args.window} x {args.sockets} sockets, {args.rounds} rounds alternating {'/'.join(kinds)}")
    print(f"# server logs: {workdir}")
    results = {k: [] for k in kinds}
    for rnd in range(1, args.rounds + 1):
        for kind in kinds:
            results[kind].append(one_run(kind, exe, args, workdir, f"{kind}-round{rnd}"))

    med = {k: {m: B.median([r[m] for r in results[k]])
               for m in ("responses_per_s", "p50_us", "p99_us", "timeouts", "cpu_us_per_response", "server_cpu_cores")}
           for k in kinds}
    for k in kinds:
        med[k]["generator_cpu_cores"] = B.median([r["generator_cpu_s"] / r["elapsed_s"] for r in results[k]])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(med, f, indent=1)
    noisy = [(k, i + 1, r["other_cpu_cores"]) for k in kinds for i, r in enumerate(results[k]) if r["other_cpu_cores"] > 0.15]
    rows = [[k, f"{med[k]['responses_per_s']:.0f}", f"{med[k]['p50_us']:.0f}", f"{med[k]['p99_us']:.0f}",
             f"{med[k]['cpu_us_per_response']:.2f}", f"{med[k]['server_cpu_cores']:.2f}", f"{med[k]['timeouts']:.0f}"]
            for k in kinds]
    print()
    print(f"Medians of {args.rounds} runs:")
    print(B.table(["server", "responses/s", "p50 µs", "p99 µs", "server CPU µs/response", "server CPU cores",
                   "timeouts"], rows))
    if noisy:
        print("note: other processes used CPU during " + ", ".join(f"{k} round {i} ({c:.2f} cores)" for k, i, c in noisy))
    if "ours" in kinds and "coturn" in kinds:
        o, c = med["ours"], med["coturn"]
        print()
        print(f"throughput ours/coturn:         {B.ratio(o['responses_per_s'], c['responses_per_s']):.2f}x  (target >= 1.3x)")
        print(f"CPU per response ours/coturn:   {B.ratio(o['cpu_us_per_response'], c['cpu_us_per_response']):.2f}x  (target <= 0.65x)")
        print(f"p50 latency ours/coturn:        {B.ratio(o['p50_us'], c['p50_us']):.2f}x")
        print(f"p99 latency ours/coturn:        {B.ratio(o['p99_us'], c['p99_us']):.2f}x")
        if "floor" in kinds:
            f = med["floor"]
            print(f"CPU per response floor/coturn:  {B.ratio(f['cpu_us_per_response'], c['cpu_us_per_response']):.2f}x  "
                  f"(bare C recvmmsg/sendmmsg responder, stun_floor.c)")
            print(f"CPU per response ours/floor:    {B.ratio(o['cpu_us_per_response'], f['cpu_us_per_response']):.2f}x")


if __name__ == "__main__":
    main()
