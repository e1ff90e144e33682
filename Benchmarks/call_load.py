#!/usr/bin/env python3
"""TURN relay under call-shaped load: switchboard against coturn 4.17.1 (standard and multiplexed) and Debian's 4.6.1.

Workloads (each allocation has its own client UDP socket and its own peer UDP socket, ChannelData over UDP; the peer
echoes every packet back through the relay, so both directions carry the offered rate):
  W1 audio  1,000 allocations x 50 packets/s each way, 160-byte payloads (open loop: fixed rate)
  W2 video    100 allocations x 800 packets/s each way, 1,200-byte payloads (open loop)
  W3          one allocation, closed loop: 64 packets in flight (a saturating flow), 100 and 1,000-byte payloads
The generator is call_load.c (one process per run: it makes the allocations, then a client thread and a peer thread
carry the load). Every run starts a fresh server; servers alternate within each workload, ROUNDS times; the tables
show medians and ours/coturn ratios for each coturn build. `--sweep` instead measures server CPU per packet against
the number of allocations (50 packets/s, 160 B) and plots it to docs/benchmarks-call-load.png.
Run through the `call-load` wrapper (it sets ulimit -n). See Benchmarks/README.md.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS = ["ours", "ourspaced", "ourskernel", "coturn417", "coturn417mux", "coturn461"]
# Not servers, so never in the default set: the floor of a relay with one socket per allocation (relay_floor.c).
FLOORS = list(B.RELAY_FLOOR_KINDS)
OURS = B.OURS_KINDS
COTURNS = ["coturn417", "coturn417mux", "coturn461"]
SHORT = {"ours": "ours", "ourspaced": "ours paced", "ourskernel": "ours kernel", "coturn417": "coturn 4.17.1", "coturn417mux": "coturn 4.17.1 mux", "coturn461": "coturn 4.6.1",
         "relayfloor": "floor epoll", "relayflooruring": "floor io_uring"}


def workloads(names, w3_window):
    out = {}
    for name in names:
        if name == "W1":
            out["W1"] = dict(label="W1 audio: 1000 alloc x 50 pkt/s, 160 B", allocations=1000, rate=50, payload=160)
        elif name == "W2":
            out["W2"] = dict(label="W2 video: 100 alloc x 800 pkt/s, 1200 B", allocations=100, rate=800, payload=1200)
        elif name in ("W3", "W3-100", "W3-1000"):
            for payload in ((100, 1000) if name == "W3" else (int(name.split("-")[1]),)):
                out[f"W3-{payload}"] = dict(label=f"W3 one flow, {w3_window} in flight, {payload} B", allocations=1,
                                            closed=w3_window, payload=payload)
        else:
            sys.exit(f"unknown workload {name!r} (W1, W2, W3, W3-100, W3-1000)")
    return out


def one_run(exe, kind, wl, args, workdir, run_name):
    """A fresh server, one call_load run against it. Returns call_load's key=value figures."""
    server = B.Server(kind, workdir)
    try:
        server.start(f"{kind}-{run_name}")  # inside the try: an interrupt while it starts still stops it
        B.wait_for_quiet()
        cmd = [exe, "127.0.0.1", str(server.port), B.USER, B.PASSWORD, "--server-pid", str(server.pid),
               "--allocations", str(wl["allocations"]), "--payload", str(wl["payload"]),
               "--warmup", str(args.warmup), "--seconds", str(args.seconds)]
        cmd += ["--closed", str(wl["closed"])] if wl.get("closed") else ["--rate", str(wl["rate"])]
        if kind == "ourskernel":
            cmd += ["--bpf-program", "switchboard_channels"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.warmup + args.seconds + 180)
        alive = server.alive()
    finally:
        code = server.stop()
    if res.returncode not in (0, 1) or not res.stdout.strip():
        raise RuntimeError(f"{kind}: call_load exit {res.returncode}: {res.stdout}{res.stderr}")
    if not alive:
        raise RuntimeError(f"{kind} died during the run; see {server.log_path}")
    r = B.parse_kv(res.stdout)
    r["server"] = kind
    # The server's own CPU: its process, plus its BPF program's run time where it has one (that runs in softirq,
    # charged to no process). Unlike relay CPU, no server is charged the loopback delivery into the generator.
    bpf = r.get("bpf_us_per_packet", 0.0)  # -1: the statistics were unavailable, so the figure is unknown
    r["server_bpf_cpu_us_per_packet"] = r["server_cpu_us_per_packet"] + bpf if bpf >= 0 else float("nan")
    r["exit"] = code
    print(f"{SHORT[kind]:17} {run_name:22} " + line(r), flush=True)
    if r.get("setup_failed"):
        print(f"       {r['setup_failed']:.0f} of {r['allocations']:.0f} allocations failed ({r['setup_errors']}); "
              "the run carried the others", flush=True)
    server.print_notable_log_lines(exit_code=code)
    return r


def line(r):
    """One run in one line: the figures a reader checks first, then everything call_load printed."""
    offer = "closed loop" if r["mode"] == "closed" else f"offered {2 * r['offered_pps']:.0f}"
    bpf = f" + BPF {r['bpf_us_per_packet']:.2f}" if r.get("bpf_us_per_packet", 0) > 0 else ""
    head = (f"relayed {r['relayed_pps']:.0f}/s ({offer}) CPU {r['server_cpu_us_per_packet']:.2f} "
            f"(user {r['server_user_us_per_packet']:.2f}){bpf} µs/pkt, RT p50/p99 {r['rt_p50_us']:.0f}/{r['rt_p99_us']:.0f} µs, "
            f"loss {r['loss_rt_pct']:.3f} %, RSS {r['server_rss_kib'] / 1024:.1f} MiB, generator {r['generator_cpu_cores']:.2f} "
            f"cores, other {r['other_cpu_cores']:.2f} cores")
    return head


def flags(r):
    """What a reader should know about a run: loss, the generator falling behind, other load on the machine."""
    out = []
    if r["loss_rt_pct"] > 0:
        out.append(f"loss {r['loss_rt_pct']:.3f} % (client→peer {r['loss_c2p_pct']:.3f} %, peer→client "
                   f"{r['loss_p2c_pct']:.3f} %; drops at server sockets {r['server_socket_drops']:.0f}, at generator "
                   f"sockets {r['generator_socket_drops']:.0f})")
    if r["mode"] == "open":
        if r["sent_pps"] < 0.98 * r["offered_pps"]:
            out.append(f"generator sent {r['sent_pps']:.0f}/s of {r['offered_pps']:.0f}/s offered")
        if r["send_lag_p99_us"] > 5000:
            out.append(f"generator send lag p99 {r['send_lag_p99_us']:.0f} µs")
    busiest = max(r["generator_client_thread_cores"], r["generator_peer_thread_cores"])
    if busiest > 0.9:
        out.append(f"a generator thread used {busiest:.2f} cores")
    if r["other_cpu_cores"] > BUSY:
        out.append(f"other processes used {r['other_cpu_cores']:.2f} cores")
    if r.get("silent_allocations"):
        out.append(f"{r['silent_allocations']:.0f} allocations never got a packet back")
    return out


# A run during which the rest of the machine used more than this many cores is flagged (and repeated: --retry-busy).
BUSY = 0.15

METRICS = ("offered_pps", "sent_pps", "relayed_pps", "server_cpu_us_per_packet", "server_user_us_per_packet",
           "relay_cpu_us_per_packet", "softirq_cpu_cores", "server_bpf_cpu_us_per_packet",
           "server_sys_us_per_packet", "server_cpu_cores", "c2p_p50_us", "c2p_p99_us", "p2c_p50_us", "p2c_p99_us",
           "rt_p50_us", "rt_p99_us", "loss_c2p_pct", "loss_p2c_pct", "loss_rt_pct", "server_rss_kib",
           "generator_cpu_cores", "generator_client_thread_cores", "generator_peer_thread_cores", "other_cpu_cores")


def medians(runs):
    return {k: B.median([r[k] for r in runs]) for k in METRICS}


def print_tables(wls, med, servers, rounds):
    print()
    print(f"Medians of {rounds} run(s). CPU = server utime+stime per relayed packet (each direction's datagram counts "
          "once); relay CPU = that plus the machine's softirq time (loopback delivery and the kernel fast path run "
          "there, charged to no process, most of it the generator's own deliveries); server + BPF = CPU plus the run "
          "time of the server's BPF program (--kernel-fastpath; the kernel's own statistics), with no server charged "
          "the loopback delivery; c2p = client→peer one-way, p2c = peer→client one-way, RT = round trip; "
          "generator = call_load's cores (client thread / peer thread):")
    rows = []
    for w, wl in wls.items():
        for kind in servers:
            m = med[w][kind]
            rows.append([w, SHORT[kind], f"{m['relayed_pps']:.0f}", f"{m['relay_cpu_us_per_packet']:.2f}",
                         f"{m['server_bpf_cpu_us_per_packet']:.2f}", f"{m['server_cpu_us_per_packet']:.2f}",
                         f"{m['server_user_us_per_packet']:.2f}", f"{m['server_sys_us_per_packet']:.2f}",
                         f"{m['server_cpu_cores']:.2f} + {m['softirq_cpu_cores']:.2f}", f"{m['c2p_p50_us']:.0f}/{m['c2p_p99_us']:.0f}",
                         f"{m['p2c_p50_us']:.0f}/{m['p2c_p99_us']:.0f}", f"{m['rt_p50_us']:.0f}/{m['rt_p99_us']:.0f}",
                         f"{m['loss_rt_pct']:.3f}", f"{m['server_rss_kib'] / 1024:.1f}",
                         f"{m['generator_cpu_cores']:.2f} ({m['generator_client_thread_cores']:.2f}/"
                         f"{m['generator_peer_thread_cores']:.2f})"])
    print(B.table(["workload", "server", "relayed pkt/s", "relay CPU µs/pkt", "server + BPF µs/pkt", "CPU µs/pkt",
                   "user µs/pkt", "sys µs/pkt",
                   "server + softirq cores", "c2p p50/p99 µs", "p2c p50/p99 µs", "RT p50/p99 µs", "loss %", "RSS MiB",
                   "generator cores"], rows))
    for w, wl in wls.items():
        print(f"  {w}: {wl['label']}")
    others = [k for k in COTURNS if k in servers]
    for ours in [k for k in list(OURS) + FLOORS if k in servers]:
        if not others:
            return
        print()
        print(f"Ratios {SHORT[ours]} / coturn (lower is better):")
        rows = []
        for w in wls:
            o = med[w][ours]
            for k in others:
                c = med[w][k]
                rows.append([w, SHORT[k], f"{B.ratio(o['relay_cpu_us_per_packet'], c['relay_cpu_us_per_packet']):.2f}×",
                             f"{B.ratio(o['server_bpf_cpu_us_per_packet'], c['server_bpf_cpu_us_per_packet']):.2f}×",
                             f"{B.ratio(o['server_cpu_us_per_packet'], c['server_cpu_us_per_packet']):.2f}×",
                             f"{B.ratio(o['server_user_us_per_packet'], c['server_user_us_per_packet']):.2f}×",
                             f"{B.ratio(o['relayed_pps'], c['relayed_pps']):.2f}×",
                             f"{B.ratio(o['rt_p50_us'], c['rt_p50_us']):.2f}×", f"{B.ratio(o['rt_p99_us'], c['rt_p99_us']):.2f}×",
                             f"{B.ratio(o['c2p_p99_us'], c['c2p_p99_us']):.2f}×", f"{B.ratio(o['p2c_p99_us'], c['p2c_p99_us']):.2f}×",
                             f"{B.ratio(o['server_rss_kib'], c['server_rss_kib']):.2f}×"])
        print(B.table(["workload", "vs", "relay CPU/pkt", "server + BPF/pkt", "CPU/pkt", "user CPU/pkt", "pkt/s",
                       "RT p50", "RT p99",
                       "c2p p99", "p2c p99", "RSS"], rows))


def header(what, servers, args):
    versions = ", ".join(f"{SHORT[k]} = {B.coturn_binary(k)} ({B.coturn_version(k)})" for k in servers if k in COTURNS)
    print(f"# {what} {datetime.date.today()} on {os.cpu_count()} CPUs; warm-up {args.warmup:g} s, measured {args.seconds:g} s; "
          f"servers: {', '.join(B.SERVER_LABELS[k] for k in servers)}")
    if versions:
        print(f"# {versions}")
    print(f"# ours = {B.SWITCHBOARD}")


def sweep(exe, args, servers, workdir):
    header("call-sweep", servers, args)
    points = {"counts": args.counts, "rate": args.rate, "payload": args.payload, "seconds": args.seconds,
              "servers": {k: [] for k in servers}}
    for n in args.counts:
        wl = dict(allocations=n, rate=args.rate, payload=args.payload)
        for kind in servers:
            r = one_run(exe, kind, wl, args, workdir, f"n{n}")
            for retry in range(args.retry_busy):
                if r["other_cpu_cores"] <= BUSY:
                    break
                print(f"       other processes used {r['other_cpu_cores']:.2f} cores: run again", flush=True)
                r = one_run(exe, kind, wl, args, workdir, f"n{n}-again{retry + 1}")
            for f in flags(r):
                print(f"       note: {f}")
            points["servers"][kind].append(r)
    day = datetime.date.today()
    out = os.path.join(ROOT, "Benchmarks", "results", f"call-sweep-{day}.json")
    with open(out, "w") as f:
        json.dump(points, f, indent=1)
    print(f"points written to {os.path.relpath(out, ROOT)}")
    print()
    rows = []
    for i, n in enumerate(args.counts):
        for kind in servers:
            r = points["servers"][kind][i]
            rows.append([n, SHORT[kind], f"{2 * r['offered_pps']:.0f}", f"{r['relayed_pps']:.0f}",
                         f"{r.get('relay_cpu_us_per_packet', float('nan')):.2f}",
                         f"{r.get('server_bpf_cpu_us_per_packet', float('nan')):.2f}",
                         f"{r['server_cpu_us_per_packet']:.2f}", f"{r['server_user_us_per_packet']:.2f}",
                         f"{r['server_cpu_cores']:.2f}", f"{r['rt_p99_us']:.0f}", f"{r['loss_rt_pct']:.3f}",
                         f"{r['server_rss_kib'] / 1024:.1f}", f"{r['generator_cpu_cores']:.2f}"])
    print(B.table(["allocations", "server", "offered pkt/s", "relayed pkt/s", "relay CPU µs/pkt", "server + BPF µs/pkt",
                   "CPU µs/pkt", "user µs/pkt",
                   "server cores", "RT p99 µs", "loss %", "RSS MiB", "generator cores"], rows))
    plot(points, str(day))


def plot(points, day):
    try:
        import matplotlib
    except ImportError:
        sys.exit("matplotlib is missing (python3 -m pip install matplotlib); the points are saved, redraw them with "
                 "--plot-only Benchmarks/results/call-sweep-DAY.json")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    styles = {"ours": "o-", "ourspaced": "o:", "ourskernel": "o-.", "coturn417": "s--", "coturn417mux": "^--", "coturn461": "d:"}
    fig, (top, mid, bottom) = plt.subplots(3, 1, figsize=(7.5, 10), sharex=True)
    for kind, runs in points["servers"].items():
        xs = [r["allocations"] for r in runs]
        label = B.SERVER_LABELS[kind]
        # Relay CPU (process + softirq) where the run has it; older result files have the process figure only.
        line_, = top.plot(xs, [r.get("relay_cpu_us_per_packet", r["server_cpu_us_per_packet"]) for r in runs],
                          styles.get(kind, "o-"), label=label)
        top.plot(xs, [r["server_user_us_per_packet"] for r in runs], styles.get(kind, "o-")[0] + ":",
                 color=line_.get_color(), alpha=0.6)
        if kind == "ourskernel" and all("server_bpf_cpu_us_per_packet" in r for r in runs):
            top.plot(xs, [r["server_bpf_cpu_us_per_packet"] for r in runs], "x--", color=line_.get_color(), alpha=0.8,
                     label=label + ": process + BPF program")
        mid.plot(xs, [max(r["rt_p99_us"], 1) / 1000 for r in runs], styles.get(kind, "o-"), label=label)
        bottom.plot(xs, [r["relayed_pps"] / 1000 for r in runs], styles.get(kind, "o-"), label=label)
    offered = [2 * points["rate"] * n / 1000 for n in points["counts"]]
    bottom.plot(points["counts"], offered, "k-", alpha=0.3, label="offered (both directions)")
    sent = [2 * B.median([runs[i]["sent_pps"] for runs in points["servers"].values()]) / 1000
            for i in range(len(points["counts"]))]
    bottom.plot(points["counts"], sent, "k:", alpha=0.5, label="sent by the generator ×2 (median over servers)")
    top.set_ylabel("CPU µs per relayed packet\n(solid: process + softirq, dotted: user,\nx: process + BPF program)")
    top.set_yscale("log")
    mid.set_ylabel("p99 round trip (ms)")
    mid.set_yscale("log")
    bottom.set_ylabel("relayed packets/s (thousands)")
    bottom.set_xlabel(f"allocations, each {points['rate']:g} packets/s each way, {points['payload']}-byte payloads")
    bottom.set_xscale("log")
    for axis in (top, mid, bottom):
        axis.grid(True, alpha=0.3)
    top.legend(fontsize=8)
    bottom.legend(fontsize=8)
    top.set_title(f"TURN relay, call-shaped load on loopback, {os.cpu_count()} cores shared with the generator, {day}",
                  fontsize=10)
    fig.tight_layout()
    out = os.path.join(ROOT, "docs", "benchmarks-call-load.png")
    fig.savefig(out, dpi=110)
    print(f"plot written to {os.path.relpath(out, ROOT)}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="W1,W2,W3", help="comma-separated: W1, W2, W3 (= W3-100 and W3-1000)")
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: " + ", ".join(SERVERS + FLOORS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=None, help="measured window per run (default 10; --sweep: 5)")
    p.add_argument("--warmup", type=float, default=2, help="load before the measured window, per run")
    p.add_argument("--w3-window", type=int, default=64, help="W3: packets in flight on the one allocation")
    p.add_argument("--retry-busy", type=int, default=1, metavar="N",
                   help=f"repeat a run up to N times while other processes used more than {BUSY} cores during it "
                        "(the machine is shared); the last run counts, all are printed")
    p.add_argument("--json", help="also write every run and the medians to this file (compare-coturn reads it)")
    p.add_argument("--sweep", action="store_true", help="server CPU per packet against allocations instead, plotted")
    p.add_argument("--counts", type=lambda s: [int(x) for x in s.split(",")], default=[10, 100, 500, 1000, 2000, 5000],
                   help="--sweep: allocation counts")
    p.add_argument("--rate", type=float, default=50, help="--sweep: packets/s per allocation, each way")
    p.add_argument("--payload", type=int, default=160, help="--sweep: payload bytes")
    p.add_argument("--plot-only", metavar="JSON", help="redraw the sweep plot from a results file, without measuring")
    args = p.parse_args()
    args.seconds_default = args.seconds is None
    if args.seconds is None:
        args.seconds = 10
    if args.sweep and args.seconds_default:
        args.seconds = 5  # the sweep's default: at 10 allocations the server uses ~0.03 cores, 15 clock ticks in 5 s
    if args.plot_only:
        with open(args.plot_only) as f:
            points = json.load(f)
        day = os.path.basename(args.plot_only).removeprefix("call-sweep-").removesuffix(".json")
        return plot(points, day)
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in (SERVERS + FLOORS):
            sys.exit(f"unknown server {s!r} ({', '.join((SERVERS + FLOORS))})")

    B.raise_fd_limit()
    for k in servers:
        if k in COTURNS:
            B.coturn_binary(k)  # fails early (or builds 4.17.1) before anything is measured
    if any(k in FLOORS for k in servers):
        B.build_tool("relay_floor", libs=("-luring",))  # before anything is measured: a missing liburing-dev stops here
    B.build_switchboard()
    exe = B.build_tool("call_load", libs=("-lcrypto",))
    workdir = os.path.join(B.TOOLS, "logs", "call-sweep" if args.sweep else "call-load")
    if args.sweep:
        return sweep(exe, args, servers, workdir)

    wls = workloads([w for w in args.workloads.split(",") if w], args.w3_window)
    header("call-load", servers, args)
    print(f"# {args.rounds} round(s); workloads: " + "; ".join(f"{w} = {wl['label']}" for w, wl in wls.items()))
    print(f"# server logs: {workdir}")
    runs = {w: {k: [] for k in servers} for w in wls}
    notes = []
    for rnd in range(1, args.rounds + 1):
        for w, wl in wls.items():
            for kind in servers:
                r = one_run(exe, kind, wl, args, workdir, f"{w}-round{rnd}")
                for retry in range(args.retry_busy):
                    if r["other_cpu_cores"] <= BUSY:
                        break
                    print(f"       other processes used {r['other_cpu_cores']:.2f} cores: run again "
                          f"({retry + 1} of at most {args.retry_busy}; --retry-busy)", flush=True)
                    r = one_run(exe, kind, wl, args, workdir, f"{w}-round{rnd}-again{retry + 1}")
                runs[w][kind].append(r)
                for f in flags(r):
                    print(f"       note: {f}")
                    notes.append(f"{w} {SHORT[kind]} round {rnd}: {f}")
    med = {w: {k: medians(runs[w][k]) for k in servers} for w in wls}
    print_tables(wls, med, servers, args.rounds)
    if notes:
        print()
        print("Notes:")
        for n in notes:
            print(f"  {n}")
    B.write_json(args.json, {"workloads": wls, "servers": servers, "rounds": args.rounds, "seconds": args.seconds,
                             "warmup": args.warmup, "medians": med, "runs": runs})


if __name__ == "__main__":
    main()
