#!/usr/bin/env python3
"""TURN relay with the client leg over TLS, ours and Debian's coturn 4.6.1 in one run: ChannelData round trips.

Per server and round, a fresh process with a TLS listener (the same P-256 certificate for both, made with openssl).
tls_relay_flood.c (C, OpenSSL, one thread) opens `--allocations` TLS connections, each with an authenticated
Allocate and a channel bound to a UDP peer socket of its own, and keeps `--window` ChannelData messages in flight per
allocation for `--seconds` at each payload size: client -TLS-> relay -UDP-> peer (echo) -UDP-> relay -TLS-> client.
Server CPU is read from /proc/PID/stat around each payload size. A round trip is two relayed packets, so CPU per
relayed packet is half the CPU per round trip. Runs alternate ours/coturn; the table shows medians and ratios.
TLS 1.2 for both by default (Debian's coturn does not negotiate 1.3 here); `--newest` lets each end pick.

usage: tls_relay.py [--rounds 3] [--seconds 8] [--allocations 4] [--window 32] [--payloads 100,1000] [--newest]
                    [--json PATH]
"""
import argparse, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import tls_allocate  # noqa: E402


def flood(exe, port, seconds, args, payload):
    cmd = [exe, "127.0.0.1", str(port), str(seconds), str(args.window), str(payload), str(args.allocations),
           benchlib.USER, benchlib.PASSWORD] + ([] if args.newest else ["tls12"])
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if res.returncode != 0:
        raise RuntimeError(f"tls_relay_flood exit {res.returncode}: {res.stdout}{res.stderr}")
    return res.stdout.strip()


def one_run(kind, exe, workdir, cert, key, args, run_name):
    proc, port, log_path = tls_allocate.start(kind, workdir, cert, key, run_name, loopback_peers=True)
    out = {}
    try:
        flood(exe, port, 1, args, args.payloads[0])  # warm-up, not measured
        for payload in args.payloads:
            benchlib.wait_for_quiet()
            cpu0, busy0 = tls_allocate.cpu_seconds(proc.pid), benchlib.machine_busy_seconds()
            line = flood(exe, port, args.seconds, args, payload)
            cpu1, busy1 = tls_allocate.cpu_seconds(proc.pid), benchlib.machine_busy_seconds()
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} died during the run; see {log_path}")
            r = benchlib.parse_kv(line)
            trips = max(1, r["round_trips"])
            r["server_cpu_us_per_packet"] = (cpu1 - cpu0) * 1e6 / (2 * trips)
            r["packets_per_s"] = 2 * r["round_trips_per_s"]
            r["server_cores"] = (cpu1 - cpu0) / r["elapsed_s"]
            r["generator_cores"] = r["generator_cpu_s"] / r["elapsed_s"]
            r["other_cores"] = max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - r["generator_cpu_s"]) / r["elapsed_s"]
            out[payload] = r
            print(f"{kind:6} {run_name} payload {payload:4}: {line} server_cpu_us_per_packet="
                  f"{r['server_cpu_us_per_packet']:.2f} server_cores={r['server_cores']:.2f} "
                  f"other_cores={r['other_cores']:.2f}", flush=True)
    finally:
        tls_allocate.stop(proc)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8, help="per payload size")
    p.add_argument("--allocations", type=int, default=4)
    p.add_argument("--window", type=int, default=32, help="ChannelData messages in flight per allocation")
    p.add_argument("--payloads", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000])
    p.add_argument("--newest", action="store_true", help="let each server negotiate its newest TLS version")
    p.add_argument("--json", help="also write the medians to this file (Benchmarks/compare-coturn reads it)")
    args = p.parse_args()
    benchlib.raise_fd_limit()
    benchlib.require_coturn()
    benchlib.build_switchboard()
    exe = benchlib.build_tool("tls_relay_flood", libs=("-lssl", "-lcrypto"))
    results = {"ours": [], "coturn": []}
    with tempfile.TemporaryDirectory(prefix="tls-relay-") as workdir:
        cert, key = tls_allocate.make_certificate(workdir)
        for round_ in range(1, args.rounds + 1):
            for kind in ("ours", "coturn"):
                results[kind].append(one_run(kind, exe, workdir, cert, key, args, f"{kind}-round{round_}"))
    keys = ("packets_per_s", "server_cpu_us_per_packet", "p50_us", "p99_us", "lost", "server_cores", "generator_cores")
    med = {kind: {payload: {k: benchlib.median([run[payload][k] for run in runs]) for k in keys}
                  for payload in args.payloads} for kind, runs in results.items()}
    print()
    print(f"TLS negotiated: ours {results['ours'][0][args.payloads[0]]['tls']}, "
          f"coturn {results['coturn'][0][args.payloads[0]]['tls']}")
    print("| payload | metric | ours | coturn 4.6.1 | ratio | target |")
    print("|---|---|---|---|---|---|")
    for payload in args.payloads:
        o, c = med["ours"][payload], med["coturn"][payload]
        for key, label, target in (("server_cpu_us_per_packet", "server CPU µs per relayed packet", "≤ 0.8×"),
                                   ("packets_per_s", "relayed packets/s", "≥ 1.2×"),
                                   ("p99_us", "p99 round trip µs", ""),
                                   ("lost", "lost", ""),
                                   ("generator_cores", "generator cores", "")):
            print(f"| {payload} B | {label} | {o[key]:,.2f} | {c[key]:,.2f} | "
                  f"{benchlib.ratio(o[key], c[key]):.2f}× | {target} |")
    benchlib.write_json(args.json, {kind: {str(p_): v for p_, v in m.items()} for kind, m in med.items()})


if __name__ == "__main__":
    main()
