#!/usr/bin/env python3
"""TURN over TLS, ours and coturn in one run: TLS connections each carrying an authenticated Allocate, and memory per
idle TLS connection.

Each operation is what a `turns:` client does first: a TCP connection, a TLS handshake (the newest version both ends
speak, printed per server: Debian's coturn 4.6.1 stops at TLS 1.2; P-256 certificate; no session resumption),
Allocate -> 401 -> Allocate with MESSAGE-INTEGRITY -> success, then close (which ends the allocation). The generator
is tls_allocate_flood.c (C, one thread, epoll) with `--concurrency` operations in flight for `--seconds`, linked
against the BoringSSL that the release build compiled for swift-nio-ssl (benchlib.build_boringssl_tool; Debian's
OpenSSL 3.0 when that is missing, said in the output). Its client handshake costs less than half the CPU of OpenSSL
3.0's, whose certificate decoding and provider look-ups made the generator the limit of the run (docs/benchmarks.md);
on 2 cores generator and server still share the machine. The generator's cores (its own getrusage over
the measured part) are printed per run and in the table: near 1.0 means it was the limit. Server CPU per operation
does not depend on that and is the steadier figure. Memory per idle TLS connection is still measured with Python
connections (`--idle` held open, handshake done, nothing sent). Both servers get the same certificate (made with
openssl here) and the same generators; runs alternate and medians are reported.

usage: tls_allocate.py [--rounds 3] [--seconds 8] [--concurrency 32] [--idle 1000] [--tls12] [--json PATH]

--tls12 holds both generators to TLS 1.2, which both servers speak, so that the handshakes compare like for like.
"""
import argparse, asyncio, os, ssl, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

MAXIMUM_TLS = None  # set by --tls12


def client_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if MAXIMUM_TLS:
        context.maximum_version = MAXIMUM_TLS
    return context


def make_certificate(folder):
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-subj", "/CN=127.0.0.1", "-days", "2", "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def start(kind, workdir, cert, key, run_name, loopback_peers=False):
    """(process, TLS port, log path). `loopback_peers` lets both relay to peers on 127.0.0.0/8 (relay tests)."""
    log_path = os.path.join(workdir, f"{run_name}.log")
    out = open(log_path, "w")
    if kind == "ours":
        cmd = [benchlib.SWITCHBOARD, "serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0",
               "--tls-port", "0", "--tls-cert", cert, "--tls-key", key, "--user", f"{benchlib.USER}:{benchlib.PASSWORD}",
               "--relay-ports", f"{benchlib.RELAY_MIN}-{benchlib.RELAY_MAX}", "--log-level", "error"]
        if loopback_peers:
            cmd += ["--allow-peer", "127.0.0.0/8"]
        env = dict(os.environ, SWITCHBOARD_USER_QUOTA="20000", SWITCHBOARD_TOTAL_QUOTA="20000",
                   SWITCHBOARD_USER_RELAY_SHARE="100", SWITCHBOARD_MAX_CONNECTIONS_PER_IP="100000",
                   SWITCHBOARD_MAX_TCP_CONNECTIONS="100000")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
        marker = "turn tls 127.0.0.1:"
    else:
        port = benchlib.free_port_pair()
        tls_port = benchlib.free_port_pair()
        base = os.path.join(workdir, run_name)
        cmd = ["turnserver", "-n", "--listening-ip", "127.0.0.1", "--listening-port", str(port),
               "--tls-listening-port", str(tls_port), "--cert", cert, "--pkey", key,
               "--relay-ip", "127.0.0.1", "--min-port", str(benchlib.RELAY_MIN), "--max-port", str(benchlib.RELAY_MAX),
               "--no-dtls", "--no-cli", "--log-file", "stdout", "--pidfile", base + ".pid", "--db", base + ".sqlite",
               "--realm", benchlib.REALM, "--lt-cred-mech", "--user", f"{benchlib.USER}:{benchlib.PASSWORD}"]
        if loopback_peers:
            cmd.append("--allow-loopback-peers")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        marker = None
    out.close()
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited before it was ready; see {log_path}")
        text = open(log_path, errors="replace").read()
        if marker:
            for line in text.splitlines():
                if line.startswith(marker):
                    return proc, int(line.rsplit(":", 1)[1]), log_path
        elif "Total General servers" in text or "Total auth threads" in text:
            time.sleep(0.3)
            return proc, tls_port, log_path
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} not ready; see {log_path}")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / benchlib.CLK_TCK


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def hold_idle(port, count):
    context = client_context()
    held = []
    for _ in range(count):
        held.append(await asyncio.open_connection("127.0.0.1", port, ssl=context))
    return held


def one_run(kind, exe, workdir, cert, key, args, run_name):
    proc, port, log_path = start(kind, workdir, cert, key, run_name)
    try:
        time.sleep(0.5)
        cmd = [exe, "127.0.0.1", str(port), str(args.seconds), str(args.concurrency), benchlib.USER, benchlib.PASSWORD]
        if args.tls12:
            cmd += ["-", "tls12"]
        busy_before = benchlib.machine_busy_seconds()
        server_before = cpu_seconds(proc.pid)
        started = time.monotonic()
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60)
        wall = time.monotonic() - started
        server_cpu = cpu_seconds(proc.pid) - server_before
        busy = benchlib.machine_busy_seconds() - busy_before
        g = benchlib.parse_kv(res.stdout)
        if "ok" not in g:
            raise RuntimeError(f"tls_allocate_flood printed nothing usable (exit {res.returncode}): {res.stderr.strip()}")
        done, elapsed, generator_cpu = int(g["ok"]), max(g["elapsed_s"], 1e-9), g["generator_cpu_s"]
        time.sleep(1)
        rss_before = rss_kib(proc.pid)

        async def idle():
            held = await hold_idle(port, args.idle)
            await asyncio.sleep(1)
            rss = rss_kib(proc.pid)
            for _, writer in held:
                writer.close()
            return rss
        rss_after = asyncio.run(idle())
        row = dict(server=kind, run=run_name, tls=g["tls"], cipher=g["cipher"], allocations_per_s=done / elapsed,
                   failed=int(g["failed"]), errors=g["errors"], p50_us=g["p50_us"], p99_us=g["p99_us"],
                   server_cpu_us_per_allocation=server_cpu * 1e6 / max(1, done), server_cores=server_cpu / wall,
                   generator_cpu_us_per_allocation=generator_cpu * 1e6 / max(1, done),
                   generator_cores=generator_cpu / elapsed,
                   other_cores=max(0.0, busy - server_cpu - generator_cpu) / wall,
                   kib_per_idle_tls=(rss_after - rss_before) / args.idle)
        print(f"{kind:6} {run_name}: " + " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                                   for k, v in row.items() if k not in ("server", "run")), flush=True)
        if res.stderr.strip():
            print(f"       tls_allocate_flood: {res.stderr.strip()}", flush=True)
        return row
    finally:
        stop(proc)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--tls12", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    global MAXIMUM_TLS
    MAXIMUM_TLS = ssl.TLSVersion.TLSv1_2 if args.tls12 else None
    benchlib.raise_fd_limit()
    benchlib.require_coturn()
    benchlib.build_switchboard()
    exe, library = benchlib.build_boringssl_tool("tls_allocate_flood")
    print(f"generator: tls_allocate_flood linked against {library}", flush=True)
    results = {"ours": [], "coturn": []}
    with tempfile.TemporaryDirectory(prefix="tls-allocate-") as workdir:
        cert, key = make_certificate(workdir)
        for round_ in range(1, args.rounds + 1):
            for kind in ("ours", "coturn"):
                benchlib.wait_for_quiet()
                results[kind].append(one_run(kind, exe, workdir, cert, key, args, f"{kind}-round{round_}"))
    med = {kind: {key: benchlib.median([r[key] for r in rows]) for key in rows[0] if not isinstance(rows[0][key], str)}
           for kind, rows in results.items()}
    versions = {kind: f"{rows[0]['tls']} ({rows[0]['cipher']})" for kind, rows in results.items()}
    print()
    print(f"TLS negotiated: ours {versions['ours']}, coturn {versions['coturn']}")
    print("| metric | ours | coturn | ratio | target |")
    print("|---|---|---|---|---|")
    for key, label, target in (("allocations_per_s", "TLS connections + authenticated Allocate per second", "≥ 1.3×"),
                               ("server_cpu_us_per_allocation", "server CPU µs per TLS connection + Allocate", "≤ 0.8×"),
                               ("kib_per_idle_tls", "KiB per idle TLS connection", "reported"),
                               ("generator_cores", "generator cores", "")):
        o, c = med["ours"][key], med["coturn"][key]
        print(f"| {label} | {o:,.2f} | {c:,.2f} | {o / c if c else float('nan'):.2f}× | {target} |")
    benchlib.write_json(args.json, med)


if __name__ == "__main__":
    main()
