#!/usr/bin/env python3
"""TURN relay over UDP, switchboard vs coturn: ChannelData round trips through the relay, and memory per allocation.

Relay test (per server, fresh process): the control plane (turn_control.py) makes ALLOCATIONS allocations, each with
its own client socket and a peer socket bound to channel 0x4000; relay_flood (C) gets the sockets as inherited fds
and keeps WINDOW ChannelData messages in flight per allocation for SECONDS at each payload size. Server CPU is read
from /proc/PID/stat around each run.
Memory test (per server, fresh process): VmRSS right after start, after 1,000 allocations and after 10,000
(cumulative), each allocation on its own client socket; every allocation must succeed.
Servers run one at a time, alternating ours/coturn ROUNDS times; the table shows medians and ours/coturn ratios.
Run through the `turn-relay` wrapper (it sets ulimit -n).
"""
import argparse
import json
import datetime
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import turn_control as T  # noqa: E402

CHANNEL = 0x4000


def setup_relay(server, n):
    """n allocations, each with a channel bound to its own peer socket. Returns [(client, peer)]."""
    ctl = T.Controller(("127.0.0.1", server.port), B.USER, B.PASSWORD)
    sessions = [T.Session(T.client_socket(("127.0.0.1", server.port)), None, CHANNEL) for _ in range(n)]
    peers = [T.peer_socket() for _ in range(n)]
    for s, p in zip(sessions, peers):
        s.peer = p.getsockname()
    ok, failed = ctl.run(sessions, timeout=30)
    if failed:
        raise RuntimeError(f"{server.kind}: {len(failed)} of {n} allocation/ChannelBind failed: {failed[0].error}")
    for s in sessions:
        s.sock.setblocking(True)  # relay_flood sends blocking and receives with MSG_DONTWAIT
    return [(s.sock, p) for s, p in zip(sessions, peers)]


def flood(exe, pairs, seconds, window, payload):
    triples = [f"{c.fileno()}:{p.fileno()}:{CHANNEL:x}" for c, p in pairs]
    fds = [f for c, p in pairs for f in (c.fileno(), p.fileno())]
    res = subprocess.run([exe, str(seconds), str(window), str(payload)] + triples, pass_fds=fds,
                         capture_output=True, text=True, timeout=seconds + 30)
    if res.returncode != 0:
        raise RuntimeError(f"relay_flood exit {res.returncode}: {res.stdout}{res.stderr}")
    return res.stdout.strip()


def relay_run(kind, exe, args, workdir, run_name):
    server = B.Server(kind, workdir).start(run_name)
    out = {}
    pairs = []
    try:
        pairs = setup_relay(server, args.allocations)
        flood(exe, pairs, 1, args.window, args.payloads[0])  # warm-up, not measured
        for payload in args.payloads:
            B.wait_for_quiet()
            cpu0, busy0 = server.cpu_seconds(), B.machine_busy_seconds()
            line = flood(exe, pairs, args.seconds, args.window, payload)
            cpu1, busy1 = server.cpu_seconds(), B.machine_busy_seconds()
            if not server.alive():
                raise RuntimeError(f"{kind} died during the run; see {server.log_path}")
            r = B.parse_kv(line)
            r["cpu_us_per_rt"] = (cpu1 - cpu0) * 1e6 / r["round_trips"] if r["round_trips"] else float("nan")
            r["server_cpu_cores"] = (cpu1 - cpu0) / r["elapsed_s"]
            r["other_cpu_cores"] = max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - r["generator_cpu_s"]) / r["elapsed_s"]
            out[payload] = r
            print(f"{kind:6} {run_name} payload {payload:4}: {line} server_cpu_us_per_round_trip={r['cpu_us_per_rt']:.2f} "
                  f"server_cpu_cores={r['server_cpu_cores']:.2f} other_cpu_cores={r['other_cpu_cores']:.2f}", flush=True)
    finally:
        for c, p in pairs:
            c.close()
            p.close()
        code = server.stop()
    server.print_notable_log_lines(exit_code=code)
    return out


def memory_run(kind, args, workdir, run_name):
    server = B.Server(kind, workdir).start(run_name)
    socks = []
    try:
        B.wait_for_quiet(max_wait=5)  # also lets the server settle before the baseline reading
        rss = {0: server.rss_kib()}
        ctl = T.Controller(("127.0.0.1", server.port), B.USER, B.PASSWORD, max_in_flight=args.in_flight)
        made = 0
        t0 = time.monotonic()
        alloc_seconds = 0.0
        alloc_cpu = 0.0
        for target in args.counts:
            batch = [T.Session(T.client_socket(("127.0.0.1", server.port))) for _ in range(target - made)]
            socks += [s.sock for s in batch]
            # Allocation rate and the server's CPU per allocation (challenge + authenticated Allocate), timed
            # around the control plane only, not the settling pauses.
            c0, w0 = server.cpu_seconds(), time.monotonic()
            ok, failed = ctl.run(batch, timeout=120)
            alloc_seconds += time.monotonic() - w0
            alloc_cpu += server.cpu_seconds() - c0
            if failed or len(ok) != len(batch):
                errors = {}
                for s in failed:
                    errors[s.error] = errors.get(s.error, 0) + 1
                raise RuntimeError(f"{kind}: {len(ok)} of {len(batch)} allocations succeeded on the way to {target}: {errors}")
            made = target
            time.sleep(1.0)  # let the server settle before reading RSS
            if not server.alive():
                raise RuntimeError(f"{kind} died after {target} allocations; see {server.log_path}")
            rss[target] = server.rss_kib()
        elapsed = time.monotonic() - t0
        threads = server.threads()
    finally:
        for s in socks:
            s.close()
        code = server.stop()
    st = ctl.stats
    print(f"{kind:6} {run_name}: RSS KiB " + " ".join(f"{n}={v}" for n, v in rss.items())
          + f" | {made} allocations ok in {elapsed:.1f} s ({made / alloc_seconds:.0f}/s while allocating,"
            f" server CPU {alloc_cpu * 1e6 / made:.1f} µs/allocation), requests={st['requests']} retransmits={st['retransmits']}"
            f" 401={st['401']} 438={st['438']} server_threads={threads}", flush=True)
    server.print_notable_log_lines(exit_code=code)
    rss["alloc_per_s"] = made / alloc_seconds
    rss["cpu_us_per_alloc"] = alloc_cpu * 1e6 / made
    return rss


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10, help="per payload size")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--allocations", type=int, default=4)
    p.add_argument("--window", type=int, default=32, help="ChannelData messages in flight per allocation")
    p.add_argument("--payloads", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000])
    p.add_argument("--counts", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10000],
                   help="cumulative allocation counts for the memory test")
    p.add_argument("--in-flight", type=int, default=256, help="control-plane transactions in flight (memory test)")
    p.add_argument("--only", choices=["ours", "coturn"], help="run one server only")
    p.add_argument("--skip", choices=["relay", "memory"], help="leave one test out")
    p.add_argument("--json", help="also write the medians to this file (Benchmarks/compare-coturn reads it)")
    args = p.parse_args()
    summary = {}

    B.raise_fd_limit()
    B.require_coturn()
    B.build_switchboard()
    exe = B.build_tool("relay_flood")
    workdir = os.path.join(B.TOOLS, "logs", "turn-relay")
    kinds = [args.only] if args.only else ["ours", "coturn"]
    print(f"# turn-relay {datetime.date.today()} on {os.cpu_count()} CPUs: {args.allocations} allocations x window "
          f"{args.window}, payloads {args.payloads} bytes, {args.seconds:g} s each; memory at {args.counts} "
          f"allocations; {args.rounds} rounds alternating {'/'.join(kinds)}")
    print(f"# server logs: {workdir}")

    relay = {k: [] for k in kinds}
    mem = {k: [] for k in kinds}
    for rnd in range(1, args.rounds + 1):
        if args.skip != "relay":
            for kind in kinds:
                relay[kind].append(relay_run(kind, exe, args, workdir, f"{kind}-relay-round{rnd}"))
        if args.skip != "memory":
            for kind in kinds:
                mem[kind].append(memory_run(kind, args, workdir, f"{kind}-memory-round{rnd}"))

    if args.skip != "relay":
        print()
        print(f"Relay, medians of {args.rounds} runs ({args.allocations} allocations x window {args.window}):")
        rows, med = [], {}
        for payload in args.payloads:
            for kind in kinds:
                m = {k: B.median([r[payload][k] for r in relay[kind]])
                     for k in ("round_trips_per_s", "p50_us", "p99_us", "lost", "cpu_us_per_rt", "server_cpu_cores")}
                m["generator_cpu_cores"] = B.median([r[payload]["generator_cpu_s"] / r[payload]["elapsed_s"] for r in relay[kind]])
                med[(kind, payload)] = m
                summary.setdefault("relay", {}).setdefault(str(payload), {})[kind] = m
                rows.append([payload, kind, f"{m['round_trips_per_s']:.0f}", f"{m['p50_us']:.0f}", f"{m['p99_us']:.0f}",
                             f"{m['cpu_us_per_rt']:.2f}", f"{m['server_cpu_cores']:.2f}", f"{m['lost']:.0f}"])
        print(B.table(["payload B", "server", "round trips/s", "p50 µs", "p99 µs", "server CPU µs/round trip",
                       "server CPU cores", "lost"], rows))
        noisy = [f"{k} round {i + 1} payload {pl} ({r[pl]['other_cpu_cores']:.2f} cores)" for k in kinds
                 for i, r in enumerate(relay[k]) for pl in args.payloads if r[pl]["other_cpu_cores"] > 0.15]
        if noisy:
            print("note: other processes used CPU during " + ", ".join(noisy))
        if len(kinds) == 2:
            for payload in args.payloads:
                o, c = med[("ours", payload)], med[("coturn", payload)]
                print(f"payload {payload:4}: throughput ours/coturn {B.ratio(o['round_trips_per_s'], c['round_trips_per_s']):.2f}x, "
                      f"CPU per round trip ours/coturn {B.ratio(o['cpu_us_per_rt'], c['cpu_us_per_rt']):.2f}x, "
                      f"p50 ours/coturn {B.ratio(o['p50_us'], c['p50_us']):.2f}x, "
                      f"p99 ours/coturn {B.ratio(o['p99_us'], c['p99_us']):.2f}x")

    if args.skip != "memory":
        print()
        print(f"Memory (VmRSS), medians of {args.rounds} runs:")
        rows, per = [], {}
        for kind in kinds:
            base = B.median([r[0] for r in mem[kind]])
            cells = [kind, f"{base / 1024:.1f}"]
            for n in args.counts:
                v = B.median([r[n] for r in mem[kind]])
                k = B.median([(r[n] - r[0]) / n for r in mem[kind]])
                per[(kind, n)] = k
                summary.setdefault("memory", {}).setdefault(str(n), {})[kind] = {"kib_per_alloc": k}
                cells += [f"{v / 1024:.1f}", f"{k:.2f}"]
            rows.append(cells)
        heads = ["server", "baseline MiB"]
        for n in args.counts:
            heads += [f"{n} alloc MiB", f"KiB/alloc @{n}"]
        print(B.table(heads, rows))
        if len(kinds) == 2:
            for n in args.counts:
                print(f"per-allocation KiB at {n}: ours/coturn {B.ratio(per[('ours', n)], per[('coturn', n)]):.2f}x")
            bo = B.median([r[0] for r in mem["ours"]])
            bc = B.median([r[0] for r in mem["coturn"]])
            print(f"baseline RSS ours/coturn {B.ratio(bo, bc):.2f}x")
        print()
        print("Allocations (401 challenge + authenticated Allocate, each from its own socket, "
              f"{args.in_flight} in flight; the Python control plane drives both):")
        rows = []
        for kind in kinds:
            summary.setdefault("allocations", {})[kind] = {
                "alloc_per_s": B.median([r["alloc_per_s"] for r in mem[kind]]),
                "cpu_us_per_alloc": B.median([r["cpu_us_per_alloc"] for r in mem[kind]])}
            rows.append([kind, f"{B.median([r['alloc_per_s'] for r in mem[kind]]):.0f}",
                         f"{B.median([r['cpu_us_per_alloc'] for r in mem[kind]]):.1f}"])
        print(B.table(["server", "allocations/s", "server CPU µs/allocation"], rows))
        if len(kinds) == 2:
            ao = B.median([r["alloc_per_s"] for r in mem["ours"]]); ac = B.median([r["alloc_per_s"] for r in mem["coturn"]])
            co = B.median([r["cpu_us_per_alloc"] for r in mem["ours"]]); cc = B.median([r["cpu_us_per_alloc"] for r in mem["coturn"]])
            print(f"allocations/s ours/coturn {B.ratio(ao, ac):.2f}x, CPU per allocation ours/coturn {B.ratio(co, cc):.2f}x")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
