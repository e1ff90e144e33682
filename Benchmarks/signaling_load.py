#!/usr/bin/env python3
"""Signaling load: 10,000 WebSocket sessions in one `switchboard serve`, then `signal` frames at a steady rate.

Reports memory per idle session, delivered frames/s, delivery latency (p50/p99) and server CPU per delivered frame,
at full and half the offered rate. The generator is Benchmarks/SignalingLoad (a SwiftNIO client); its CPU share is
printed so a reader can tell whether it, rather than the server, was the limit.
"""
import argparse, os, resource, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.join(ROOT, ".build-release")
TICKS = os.sysconf("SC_CLK_TCK")


def build():
    for product in ("switchboard", "SignalingLoad"):
        subprocess.run(["swift", "build", "-c", "release", "--product", product, "--scratch-path", SCRATCH],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(SCRATCH, "release", "switchboard"), os.path.join(SCRATCH, "release", "SignalingLoad")


def raise_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(server_bin, load_bin, sessions, room, rate, seconds):
    # Every session comes from 127.0.0.1: lift the per-address bound (1,000 by default) above the session count.
    # Through the environment, which older binaries (run side by side) ignore, where they would refuse a flag.
    env = dict(os.environ, SWITCHBOARD_MAX_CONNECTIONS_PER_IP="100000", SWITCHBOARD_HTTP_MAX_CONNECTIONS="100000")
    server = subprocess.Popen([server_bin, "serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0",
                               "--log-level", "error"], env=env, stdout=subprocess.PIPE, text=True, preexec_fn=raise_limit)
    try:
        port = None
        while port is None:
            line = server.stdout.readline()
            if not line:
                sys.exit("server exited before its readiness lines")
            if line.startswith("http "):
                port = int(line.rsplit(":", 1)[1])
        time.sleep(0.5)
        baseline = rss_kib(server.pid)
        ready = tempfile.mktemp(prefix="signaling-load-ready-")
        env = dict(os.environ, SIGNALING_LOAD_READY_FILE=ready)
        load = subprocess.Popen([load_bin, str(port), str(sessions), str(room), str(rate), str(seconds)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=raise_limit)
        while not os.path.exists(ready) and load.poll() is None:
            time.sleep(0.05)
        idle = rss_kib(server.pid)
        cpu_before = cpu_seconds(server.pid)
        out, err = load.communicate(timeout=seconds + 120)
        cpu_after = cpu_seconds(server.pid)
        if os.path.exists(ready):
            os.unlink(ready)
        result = dict(item.split("=", 1) for item in out.split())
        delivered = int(result["delivered"])
        # The generator sleeps 2 s before loading and 0.5 s after; both are idle for the server.
        result.update(
            offered_per_s=rate, baseline_mib=f"{baseline / 1024:.1f}", idle_mib=f"{idle / 1024:.1f}",
            kib_per_idle_session=f"{(idle - baseline) / max(1, int(result['sessions'])):.1f}",
            server_cpu_us_per_frame=f"{(cpu_after - cpu_before) * 1e6 / max(1, delivered):.2f}",
            server_cpu_cores=f"{(cpu_after - cpu_before) / (seconds + 2.5):.2f}",
            generator_cpu_cores=f"{float(result['generator_cpu_s']) / (float(result['connect_s']) + seconds + 2.5):.2f}")
        if load.returncode != 0:
            print(err, file=sys.stderr)
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--room-size", type=int, default=10)
    p.add_argument("--rate", type=int, default=50_000, help="offered signal frames per second (full load)")
    p.add_argument("--rates", help="offered rates to run, comma-separated (default: --rate and half of it), e.g. "
                                   "60000,25000 to look past 50,000 delivered and at the latency at 25,000")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--baseline", help="another switchboard binary (e.g. one built before a change), run alternately "
                                      "with ours in the same run; ratios are ours/baseline")
    p.add_argument("--rounds", type=int, default=1, help="alternating rounds per rate with --baseline")
    args = p.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")] if args.rates else [args.rate, args.rate // 2]
    server_bin, load_bin = build()
    if args.baseline:
        return compare(args, server_bin, load_bin)
    rows = []
    for rate in args.rates:
        r = run(server_bin, load_bin, args.sessions, args.room_size, rate, args.seconds)
        print(" ".join(f"{k}={v}" for k, v in r.items()), flush=True)
        rows.append(r)
    table(rows)


def compare(args, server_bin, load_bin):
    """Baseline and ours alternately, same generator, same rates; medians per binary and their ratios."""
    results = {"baseline": {}, "ours": {}}
    for rate in args.rates:
        for _ in range(args.rounds):
            for name, binary in (("baseline", args.baseline), ("ours", server_bin)):
                r = run(binary, load_bin, args.sessions, args.room_size, rate, args.seconds)
                r["binary"] = name
                print(" ".join(f"{k}={v}" for k, v in r.items()), flush=True)
                results[name].setdefault(rate, []).append(r)

    def median(rows, key):
        values = sorted(float(r[key]) for r in rows)
        return values[len(values) // 2]

    print()
    print("| offered/s | binary | delivered/s | p50 µs | p99 µs | server CPU µs/frame | KiB/idle session |")
    print("|---|---|---|---|---|---|---|")
    for rate in args.rates:
        for name in ("baseline", "ours"):
            rows = results[name][rate]
            print(f"| {rate} | {name} | {median(rows, 'delivered_per_s'):.0f} | {median(rows, 'p50_us'):.0f} | {median(rows, 'p99_us'):.0f} "
                  f"| {median(rows, 'server_cpu_us_per_frame'):.2f} | {median(rows, 'kib_per_idle_session'):.1f} |")
    print()
    for rate in args.rates:
        b, o = results["baseline"][rate], results["ours"][rate]
        print(f"offered {rate}/s: delivered/s {median(o, 'delivered_per_s') / median(b, 'delivered_per_s'):.2f}x, "
              f"CPU/frame {median(o, 'server_cpu_us_per_frame') / median(b, 'server_cpu_us_per_frame'):.2f}x, "
              f"KiB/idle session {median(o, 'kib_per_idle_session') / median(b, 'kib_per_idle_session'):.2f}x, "
              f"p99 {median(o, 'p99_us') / median(b, 'p99_us'):.2f}x")


def table(rows):
    print()
    print("| offered/s | sent/s | sessions | delivered/s | p50 µs | p99 µs | max µs | server CPU µs/frame | server cores | generator cores | KiB/idle session | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['offered_per_s']} | {r['sent_per_s']} | {r['sessions']} | {r['delivered_per_s']} | {r['p50_us']} | {r['p99_us']} | {r['max_us']} "
              f"| {r['server_cpu_us_per_frame']} | {r['server_cpu_cores']} | {r['generator_cpu_cores']} | {r['kib_per_idle_session']} | {r['errors']} |")
    print()
    print("targets: 10,000 sessions; >= 50,000 delivered frames/s; p99 < 10 ms at 25,000/s offered")


if __name__ == "__main__":
    main()
