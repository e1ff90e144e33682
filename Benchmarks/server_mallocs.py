#!/usr/bin/env python3
"""mallocs per unit of work in the running server: a perf uprobe on libc's malloc counts every allocation of the
`switchboard serve` process while stun_flood (Binding) or relay_flood (ChannelData relay) loads it.

The microbenchmarks (Benchmarks/CoreBenchmarks) count the cores alone; this counts the whole data path, sockets and
event loop included. Needs root and linux-perf (`perf probe`); the probe is added once and left in place.
"""
import argparse, os, re, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import turn_relay as R  # noqa: E402

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def ensure_probe():
    listed = subprocess.run(["perf", "list", "probe_libc:malloc"], capture_output=True, text=True).stdout
    if "probe_libc:malloc" not in listed:
        subprocess.run(["perf", "probe", "-q", "-x", LIBC, "--add", "malloc"], check=True)


def count_mallocs(pid, seconds, load):
    """Runs `load()` while perf counts the process's mallocs; returns (mallocs, load's result)."""
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "probe_libc:malloc", "-p", str(pid), "--", "sleep",
                             str(seconds)], stderr=subprocess.PIPE, text=True)
    time.sleep(0.2)
    result = load()
    _, err = perf.communicate()
    match = re.search(r"^(\d+),", err, re.M)
    if not match:
        sys.exit(f"perf stat printed no count:\n{err}")
    return int(match.group(1)), result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2)
    args = p.parse_args()
    B.build_switchboard()
    ensure_probe()
    workdir = os.path.join(B.TOOLS, "logs", "server-mallocs")
    window = args.seconds + 1

    stun = B.build_tool("stun_flood")
    server = B.Server("ours", workdir).start("stun")
    try:
        subprocess.run([stun, "127.0.0.1", str(server.port), "1"], check=True, capture_output=True)
        mallocs, out = count_mallocs(server.pid, window, lambda: B.parse_kv(subprocess.run(
            [stun, "127.0.0.1", str(server.port), str(args.seconds)], check=True, capture_output=True, text=True).stdout))
        responses = out["responses_per_s"] * out["elapsed_s"]
        print(f"STUN Binding: {mallocs} mallocs in {window:.1f} s for {responses:,.0f} responses = "
              f"{mallocs / responses:.4f} per response")
    finally:
        server.stop()

    relay = B.build_tool("relay_flood")
    server = B.Server("ours", workdir).start("relay")
    try:
        pairs = R.setup_relay(server, 4)
        R.flood(relay, pairs, 1, 32, 100)
        mallocs, out = count_mallocs(server.pid, window,
                                     lambda: B.parse_kv(R.flood(relay, pairs, args.seconds, 32, 100)))
        packets = 2 * out["round_trips"]
        print(f"ChannelData relay (100 B, both directions): {mallocs} mallocs in {window:.1f} s for {packets:,.0f} "
              f"relayed packets = {mallocs / packets:.4f} per packet")
    finally:
        server.stop()
    print("(the remainder is periodic work: the 1 s expiry timer, logging, the HTTP side; not per packet)")


if __name__ == "__main__":
    main()
