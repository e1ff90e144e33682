#!/usr/bin/env python3
"""Ours vs coturn in one run: STUN Binding, ChannelData relay at 100 and 1000 B, authenticated allocations, memory.

Runs Benchmarks/stun-binding (with the bare C responder stun_floor.c beside the two servers), Benchmarks/turn-relay
and Benchmarks/turn-allocate (each alternates the servers and takes medians of --rounds runs), then prints one table: metric, ours, coturn, ratio, target, and whether the target is met, with the
load generator's CPU share beside each load so a reader can see whether the generator was the limit.
"""
import argparse, datetime, json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(script, extra, path):
    cmd = [os.path.join(HERE, script), "--json", path] + extra
    print("$ " + " ".join(cmd[0:1] + extra), flush=True)
    subprocess.run(cmd, check=True)
    with open(path) as f:
        return json.load(f)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8)
    args = p.parse_args()
    # Built first and timed apart: on a fresh clone the release build takes longer than the measurements.
    sys.path.insert(0, HERE)
    import benchlib
    build_start = time.monotonic()
    benchlib.build_switchboard()
    build_seconds = time.monotonic() - build_start
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        stun = run("stun-binding", ["--rounds", str(args.rounds), "--seconds", str(args.seconds), "--floor"],
                   os.path.join(tmp, "stun.json"))
        turn = run("turn-relay", ["--rounds", str(args.rounds), "--seconds", str(args.seconds), "--skip", "memory"],
                   os.path.join(tmp, "turn.json"))
        allocate = run("turn-allocate", ["--rounds", str(args.rounds), "--count", "10000"], os.path.join(tmp, "allocate.json"))
        # TLS 1.2 for both: Debian's coturn stops there, and handshakes of one version compare like for like.
        tls = run("turn-tls-allocate", ["--rounds", str(args.rounds), "--seconds", str(args.seconds), "--tls12"],
                  os.path.join(tmp, "tls.json"))

    rows = []

    def add(metric, ours, coturn, target, better, generator=""):
        ratio = ours / coturn if coturn else float("nan")
        met = target and ((ratio <= target) if better == "lower" else (ratio >= target))
        sign = "≤" if better == "lower" else "≥"
        rows.append([metric, f"{ours:,.2f}" if ours < 100 else f"{ours:,.0f}", f"{coturn:,.2f}" if coturn < 100 else f"{coturn:,.0f}",
                     f"{ratio:.2f}×", f"{sign} {target}×" if target else "", ("met" if met else "missed") if target else "",
                     generator])

    o, c = stun["ours"], stun["coturn"]
    gen = f"{o['generator_cpu_cores']:.2f} / {c['generator_cpu_cores']:.2f}"
    add("STUN server CPU µs/response", o["cpu_us_per_response"], c["cpu_us_per_response"], 0.65, "lower", gen)
    add("STUN responses/s", o["responses_per_s"], c["responses_per_s"], 1.3, "higher", gen)
    add("STUN p99 µs", o["p99_us"], c["p99_us"], 1.0, "lower", gen)
    f = stun["floor"]
    rows.append(["STUN floor (stun_floor.c) CPU µs/response", f"{f['cpu_us_per_response']:.2f}", f"{c['cpu_us_per_response']:.2f}",
                 f"{f['cpu_us_per_response'] / c['cpu_us_per_response']:.2f}×", "", "reference",
                 f"{f['generator_cpu_cores']:.2f}"])
    for payload in ("100", "1000"):
        o, c = turn["relay"][payload]["ours"], turn["relay"][payload]["coturn"]
        gen = f"{o['generator_cpu_cores']:.2f} / {c['generator_cpu_cores']:.2f}"
        # A round trip is two relayed packets (client→peer, peer→client).
        add(f"relay {payload} B server CPU µs/packet", o["cpu_us_per_rt"] / 2, c["cpu_us_per_rt"] / 2, 0.7, "lower", gen)
        add(f"relay {payload} B packets/s", o["round_trips_per_s"] * 2, c["round_trips_per_s"] * 2, 1.3, "higher", gen)
        add(f"relay {payload} B p99 round trip µs", o["p99_us"], c["p99_us"], 1.0, "lower", gen)
    o, c = allocate["ours"], allocate["coturn"]
    gen = f"{o['generator_cpu_cores']:.2f} / {c['generator_cpu_cores']:.2f}"
    add("authenticated allocations/s", o["allocations_per_s"], c["allocations_per_s"], 1.5, "higher", gen)
    add("server CPU µs/allocation", o["cpu_us_per_alloc"], c["cpu_us_per_alloc"], 1.0, "lower", gen)
    add("server CPU cores while allocating", o["server_cpu_cores"], c["server_cpu_cores"], None, "lower", gen)
    add("RSS KiB/allocation @10,000", o["kib_per_alloc"], c["kib_per_alloc"], 0.5, "lower", "")
    o, c = tls["ours"], tls["coturn"]
    gen = f"{o['generator_cores']:.2f} / {c['generator_cores']:.2f}"
    add("TLS 1.2 connections + Allocate/s", o["allocations_per_s"], c["allocations_per_s"], 1.3, "higher", gen)
    add("server CPU µs/(TLS connection + Allocate)", o["server_cpu_us_per_allocation"], c["server_cpu_us_per_allocation"], 0.8,
        "lower", gen)
    add("KiB per idle TLS connection", o["kib_per_idle_tls"], c["kib_per_idle_tls"], None, "lower", "")

    heads = ["metric", "ours", "coturn", "ratio", "target", "", "generator cores ours / coturn"]
    widths = [max(len(str(r[i])) for r in rows + [heads]) for i in range(len(heads))]
    lines = [f"# compare-coturn {datetime.date.today()} on {os.cpu_count()} CPUs, medians of {args.rounds} alternating runs, "
             f"{time.monotonic() - start:.0f} s (+ {build_seconds:.0f} s building)",
             "| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |" for r in rows]
    print()
    print("\n".join(lines))
    out = os.path.join(HERE, "results", f"compare-coturn-{datetime.date.today()}.txt")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"\nwritten to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
