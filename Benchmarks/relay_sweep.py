#!/usr/bin/env python3
"""Relay throughput and p99 round trip against offered load, ours vs coturn, and a plot of both.

Offered load is closed-loop: 4 allocations each keep WINDOW ChannelData packets in flight (1 to 64), 100-byte
payloads, 3 s per point, servers alternating per point. Writes Benchmarks/results/relay-sweep-DATE.json and
docs/benchmarks-relay.png. Plotting needs matplotlib (PyPI); `--plot-only FILE` redraws a saved run.
"""
import argparse, datetime, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import turn_relay as R  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 16, 32, 64])
    p.add_argument("--seconds", type=float, default=3)
    p.add_argument("--payload", type=int, default=100)
    p.add_argument("--plot-only", metavar="JSON", help="redraw the plot from a results file, without measuring")
    args = p.parse_args()
    if args.plot_only:
        with open(args.plot_only) as f:
            points = json.load(f)
        day = os.path.basename(args.plot_only).removeprefix("relay-sweep-").removesuffix(".json")
        return plot(points, day)
    B.raise_fd_limit()
    B.require_coturn()
    B.build_switchboard()
    exe = B.build_tool("relay_flood")
    workdir = os.path.join(B.TOOLS, "logs", "relay-sweep")
    points = {"ours": [], "coturn": []}
    for window in args.windows:
        for kind in ("ours", "coturn"):
            server = B.Server(kind, workdir).start(f"{kind}-w{window}")
            pairs = []
            try:
                pairs = R.setup_relay(server, 4)
                R.flood(exe, pairs, 1, window, args.payload)  # warm-up
                B.wait_for_quiet(max_wait=5)
                cpu0 = server.cpu_seconds()
                r = B.parse_kv(R.flood(exe, pairs, args.seconds, window, args.payload))
                r["cpu_us_per_packet"] = (server.cpu_seconds() - cpu0) * 1e6 / max(1, 2 * r["round_trips"])
            finally:
                for c, peer in pairs:
                    c.close()
                    peer.close()
                server.stop()
            r["in_flight"] = 4 * window
            points[kind].append(r)
            print(f"{kind:6} in flight {4 * window:4}: {r['round_trips_per_s'] * 2:9.0f} packets/s  p99 {r['p99_us']:6.0f} µs  "
                  f"lost {r['lost']:.0f}  server CPU {r['cpu_us_per_packet']:.2f} µs/packet", flush=True)
    day = datetime.date.today()
    with open(os.path.join(ROOT, "Benchmarks", "results", f"relay-sweep-{day}.json"), "w") as f:
        json.dump(points, f, indent=1)
    plot(points, day)


def plot(points, day):
    try:
        import matplotlib
    except ImportError:
        sys.exit("matplotlib is missing (python3 -m pip install matplotlib); the points are saved, redraw them with "
                 "--plot-only Benchmarks/results/relay-sweep-DAY.json")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for kind, style in (("ours", "o-"), ("coturn", "s--")):
        xs = [pt["in_flight"] for pt in points[kind]]
        top.plot(xs, [pt["round_trips_per_s"] * 2 / 1000 for pt in points[kind]], style, label=kind)
        bottom.plot(xs, [pt["p99_us"] / 1000 for pt in points[kind]], style, label=kind)
    top.set_ylabel("relayed packets/s (thousands)")
    bottom.set_ylabel("p99 round trip (ms)")
    bottom.set_xlabel("ChannelData packets in flight (4 allocations × window), 100-byte payloads")
    bottom.set_xscale("log", base=2)
    for axis in (top, bottom):
        axis.grid(True, alpha=0.3)
        axis.legend()
    top.set_title(f"TURN relay on loopback, 2 cores, {day}: Switchboard vs coturn 4.6.1")
    fig.tight_layout()
    out = os.path.join(ROOT, "docs", "benchmarks-relay.png")
    fig.savefig(out, dpi=110)
    print(f"plot written to {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
