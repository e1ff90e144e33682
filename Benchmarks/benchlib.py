"""Shared plumbing for the benchmark drivers: build the tools, start/stop the two servers, read /proc.

Everything runs on loopback. Servers are started one at a time and stopped by the PID we started them with.
"""
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "Benchmarks")
SCRATCH = os.path.join(ROOT, ".build-release")
TOOLS = os.path.join(SCRATCH, "bench")
# SWITCHBOARD_BENCH_BINARY=PATH runs that prebuilt server instead, and build_switchboard() then builds nothing.
PREBUILT = os.environ.get("SWITCHBOARD_BENCH_BINARY")
SWITCHBOARD = os.path.abspath(PREBUILT) if PREBUILT else os.path.join(SCRATCH, "release", "switchboard")
CLK_TCK = os.sysconf("SC_CLK_TCK")

USER, PASSWORD, REALM = "bench", "bench-password", "switchboard"
RELAY_MIN, RELAY_MAX = 50000, 60999


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def raise_fd_limit(n=20000):
    """The wrappers already ran `ulimit -n 20000`; this covers running the .py directly."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def build_boringssl_tool(name):
    """Benchmarks/NAME.c linked against the BoringSSL that the release build compiled for swift-nio-ssl (its objects
    and headers under .build-release/), through `#include <openssl/...>` shims. A TLS client costs less than half
    the CPU per handshake there than with Debian's OpenSSL 3.0, so a handshake generator stops being the limit of the
    machine. Returns (path, library) and falls back to OpenSSL, saying so, when those files are missing (a server
    given by SWITCHBOARD_BENCH_BINARY without a release build here)."""
    include = os.path.join(SCRATCH, "checkouts", "swift-nio-ssl", "Sources", "CNIOBoringSSL", "include")
    objects = []
    for triple_dir in (os.path.join(SCRATCH, d) for d in os.listdir(SCRATCH) if os.path.isdir(os.path.join(SCRATCH, d))) \
            if os.path.isdir(SCRATCH) else ():
        folder = os.path.join(triple_dir, "release", "CNIOBoringSSL.build")
        for base, _, files in os.walk(folder):
            objects += [os.path.join(base, f) for f in files if f.endswith(".o")]
        if objects:
            break
    if not os.path.isdir(include) or not objects:
        log(f"{name}: BoringSSL objects not found under {SCRATCH}; building against OpenSSL instead")
        return build_tool(name, libs=("-lssl", "-lcrypto")), "OpenSSL"
    os.makedirs(TOOLS, exist_ok=True)
    shims = os.path.join(TOOLS, "boringssl-shims", "openssl")
    os.makedirs(shims, exist_ok=True)
    for header in ("ssl", "err", "evp", "hmac"):
        with open(os.path.join(shims, header + ".h"), "w") as out:
            out.write(f"#include <CNIOBoringSSL_{header}.h>\n")
    src, exe = os.path.join(HERE, name + ".c"), os.path.join(TOOLS, name + "-boringssl")
    newest = max(os.path.getmtime(src), os.path.getmtime(os.path.join(HERE, "turn_wire.h")),
                 max(os.path.getmtime(o) for o in objects))
    if not os.path.exists(exe) or os.path.getmtime(exe) < newest:
        response = os.path.join(TOOLS, name + "-boringssl.objects")
        with open(response, "w") as out:
            out.write("\n".join(objects))
        subprocess.check_call(["gcc", "-O2", "-Wall", "-pthread", "-I", os.path.dirname(shims), "-I", include,
                               "-o", exe, src, "@" + response, "-lstdc++"])
    return exe, "BoringSSL"


def build_switchboard():
    if PREBUILT:
        log(f"using {SWITCHBOARD} (SWITCHBOARD_BENCH_BINARY); not building")
        return
    # Always asked: an up-to-date build takes seconds, and a stale binary would measure old code.
    log(f"building {SWITCHBOARD} (release; several minutes the first time, seconds when up to date)")
    subprocess.check_call(["swift", "build", "-c", "release", "--product", "switchboard",
                           "--scratch-path", SCRATCH], cwd=ROOT)


def build_tool(name, libs=()):
    """gcc -O2 Benchmarks/NAME.c into the scratch directory, when missing or older than the source (or than
    turn_wire.h, the header the generators share)."""
    os.makedirs(TOOLS, exist_ok=True)
    src, exe = os.path.join(HERE, name + ".c"), os.path.join(TOOLS, name)
    newest = max(os.path.getmtime(src), os.path.getmtime(os.path.join(HERE, "turn_wire.h")))
    if not os.path.exists(exe) or os.path.getmtime(exe) < newest:
        try:
            subprocess.check_call(["gcc", "-O2", "-Wall", "-pthread", "-o", exe, src, *libs])
        except subprocess.CalledProcessError:
            if "-lcrypto" in libs:
                sys.exit(f"building {name} failed; it needs OpenSSL's libcrypto headers: apt-get install libssl-dev")
            if "-luring" in libs:
                sys.exit(f"building {name} failed; it needs liburing: apt-get install liburing-dev")
            raise
    return exe


def require_coturn():
    if shutil.which("turnserver") is None:
        sys.exit("turnserver (coturn) is not installed: apt-get install coturn")


# `ourspaced`: ours with its TURN loops' wake-ups paced (interrupt moderation), the interval in microseconds.
PACED_INTERVAL_US = 250

# The servers the drivers know. "coturn" is Debian's 4.6.1 (`turnserver` on PATH), the baseline of the older drivers;
# "coturn461" is the same server under the name the call-load driver uses beside the 4.17.1 builds.
SERVER_LABELS = {
    "ours": "switchboard",
    "ourskernel": "switchboard --kernel-fastpath",
    "ourspaced": f"switchboard --turn-wakeup-interval {PACED_INTERVAL_US}",
    "coturn": "coturn 4.6.1 (Debian)",
    "coturn461": "coturn 4.6.1 (Debian)",
    "coturn417": "coturn 4.17.1 standard",
    "coturn417mux": "coturn 4.17.1 --multiplex-peer --udp-gso",
    "relayfloor": "relay floor (C, epoll, recvmmsg/sendto/sendmmsg)",
    "relayflooruring": "relay floor (C, io_uring, multishot recvmsg)",
}
OURS_KINDS = ("ours", "ourspaced", "ourskernel")
# Not servers: the floor of a relay with one socket per allocation (Benchmarks/relay_floor.c), epoll and io_uring.
RELAY_FLOOR_KINDS = ("relayfloor", "relayflooruring")
COTURN_KINDS = ("coturn", "coturn461", "coturn417", "coturn417mux")
# coturn 4.17.1 built from the snapshot in /work/shared/peers; SWITCHBOARD_COTURN_417=PATH points at any build.
COTURN_417_DEFAULT = "/tmp/coturn-4.17.1/build/bin/turnserver"
COTURN_417_BUILD = os.environ.get("SWITCHBOARD_COTURN_BUILD_SCRIPT", "/work/shared/peers/build-coturn.sh")
_coturn_paths = {}


def coturn_binary(kind):
    """The turnserver binary for a coturn kind: Debian's for coturn/coturn461; for the 4.17.1 kinds
    $SWITCHBOARD_COTURN_417, else the default build path, built by build-coturn.sh (about a minute) when missing."""
    if kind in _coturn_paths:
        return _coturn_paths[kind]
    if kind in ("coturn", "coturn461"):
        require_coturn()
        path = shutil.which("turnserver")
    else:
        path = os.environ.get("SWITCHBOARD_COTURN_417")
        if path:
            if not os.access(path, os.X_OK):
                sys.exit(f"SWITCHBOARD_COTURN_417={path} is not an executable file")
        elif os.access(COTURN_417_DEFAULT, os.X_OK):
            path = COTURN_417_DEFAULT
        else:
            if not os.path.exists(COTURN_417_BUILD):
                sys.exit(f"coturn 4.17.1 is missing: no {COTURN_417_DEFAULT} and no build script {COTURN_417_BUILD}; "
                         "set SWITCHBOARD_COTURN_417=PATH to a turnserver binary")
            log(f"building coturn 4.17.1 with {COTURN_417_BUILD} (about a minute)")
            out = subprocess.run(["bash", COTURN_417_BUILD], check=True, capture_output=True, text=True).stdout
            path = out.strip().splitlines()[-1]
    _coturn_paths["coturn461" if kind == "coturn" else kind] = path
    _coturn_paths[kind] = path
    return path


def coturn_version(kind):
    """What the binary says it is (`turnserver --version`), so a run's header names the builds it measured."""
    try:
        out = subprocess.run([coturn_binary(kind), "--version"], capture_output=True, text=True, timeout=10)
        return (out.stdout.strip() or out.stderr.strip()).splitlines()[-1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def free_port_block(n, ip="127.0.0.1"):
    """A base port with base..base+n-1 free for UDP, outside the relay range (coturn's --multiplex-peer-port)."""
    for base in range(40000, 49000, 16):
        if ports_free(ip, range(base, base + n), (socket.SOCK_DGRAM,)):
            return base
    raise RuntimeError(f"no {n} consecutive free UDP ports on loopback")


def free_port_pair(ip="127.0.0.1"):
    """A port free for UDP and TCP, with port+1 free too (coturn also opens listening-port+1).

    Tried below the kernel's ephemeral range first: after a handshake run tens of thousands of the generator's
    client ports sit in TIME_WAIT, and a listener cannot bind a port held that way, so back-to-back runs would
    otherwise find nothing free."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768

    def candidates():
        rng = random.Random()
        for _ in range(200):
            yield rng.randrange(10000, max(10002, ephemeral_low - 1))
        for _ in range(200):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind((ip, 0))
            port = probe.getsockname()[1]
            probe.close()
            yield port

    for port in candidates():
        if port + 1 > 65535 or RELAY_MIN <= port <= RELAY_MAX + 1 or RELAY_MIN <= port + 1 <= RELAY_MAX:
            continue
        if ports_free(ip, (port, port + 1), (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            return port
    raise RuntimeError("no free port pair on loopback")


def ports_free(ip, ports, kinds):
    """Whether every port can be bound for every socket kind right now (all are released again before returning)."""
    held = []
    try:
        for p in ports:
            for kind in kinds:
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                if kind == socket.SOCK_STREAM:
                    # As the servers bind: a port whose old accepted connections sit in TIME_WAIT is free to them.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((ip, p))
        return True
    except OSError:
        return False
    finally:
        for s in held:
            s.close()


class Server:
    """One server process (ours or coturn), its log file, and /proc readings by PID."""

    def __init__(self, kind, workdir):
        self.kind, self.workdir = kind, workdir
        self.proc, self.port = None, None
        self.log_path = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, run_name):
        os.makedirs(self.workdir, exist_ok=True)
        self.log_path = os.path.join(self.workdir, f"{run_name}.log")
        out = open(self.log_path, "w")
        if self.kind in OURS_KINDS:
            cmd = [SWITCHBOARD, "serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--admin-port", "0",
                   "--user", f"{USER}:{PASSWORD}", "--allow-peer", "127.0.0.0/8",
                   "--relay-ports", f"{RELAY_MIN}-{RELAY_MAX}", "--log-level", "warning"]
            if self.kind == "ourskernel":
                cmd.append("--kernel-fastpath")
            if self.kind == "ourspaced":
                cmd += ["--turn-wakeup-interval", str(PACED_INTERVAL_US)]
            # `serve` has no --user-quota/--total-quota flags (refused as unknown options); the settings exist as
            # configuration keys, so they go in through the environment layer. Default user quota is 100.
            # One benchmark user holds every allocation, so its share of the relay range may be all of it.
            env = dict(os.environ, SWITCHBOARD_USER_QUOTA="20000", SWITCHBOARD_TOTAL_QUOTA="20000",
                       SWITCHBOARD_USER_RELAY_SHARE="100")
            # Readiness lines go to stdout, log lines to stderr: keep them apart so stdout parses cleanly.
            err = open(self.log_path + ".stderr", "w")
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=self.workdir,
                                         env=env)
            err.close()
        elif self.kind == "floor":
            # The C responder of stun_floor.c: same readiness line as ours.
            self.proc = subprocess.Popen([build_tool("stun_floor"), "127.0.0.1", "0"], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir)
        elif self.kind in RELAY_FLOOR_KINDS:
            # relay_floor.c: the least a relay with one socket per allocation does, epoll or io_uring style, with as
            # many loops as ours has by default (one per core).
            cmd = [build_tool("relay_floor", libs=("-luring",)), "127.0.0.1", "0", "--threads",
                   str(min(os.cpu_count() or 1, 64))]
            if self.kind == "relayflooruring":
                cmd.append("--uring")
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir)
        elif self.kind in COTURN_KINDS:
            self.port = free_port_pair()
            base = os.path.join(self.workdir, run_name)
            for leftover in (base + ".sqlite", base + ".pid"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            cmd = coturn_command(self.kind, self.port, base)
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir)
        else:
            raise ValueError(f"unknown server kind {self.kind!r}")
        out.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before it was ready; see {self.log_path}")
            with open(self.log_path, errors="replace") as f:
                text = f.read()
            if self.kind in OURS_KINDS + ("floor",) + RELAY_FLOOR_KINDS:
                for line in text.splitlines():
                    if line.startswith("stun udp 127.0.0.1:"):
                        self.port = int(line.rsplit(":", 1)[1])
                        return
            elif "Total General servers" in text or "Total auth threads" in text:
                # coturn prints this once its relay threads exist (4.6.1: "Total General servers"; 4.17:
                # "Total auth threads", after "Total relay threads"); give the listeners a moment to bind.
                time.sleep(0.3)
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} not ready after {timeout}s; see {self.log_path}")

    def cpu_seconds(self):
        """utime + stime of the whole process (all threads), from /proc/PID/stat fields 14 and 15."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); field 14 is fields[11], field 15 is fields[12].
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def status(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def rss_kib(self):
        return self.status("VmRSS")

    def threads(self):
        return self.status("Threads")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM our own PID, SIGKILL it after 5 s. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"{self.kind} (pid {self.proc.pid}) ignored SIGTERM for 5 s; sending SIGKILL")
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def print_notable_log_lines(self, exit_code=None):
        """Prints, indented under a run's line, the warnings and errors the server logged (nothing when none)."""
        notable, count = self.notable_log_lines()
        if count:
            suffix = "" if exit_code is None else f" (exit {exit_code})"
            print(f"       {count} warning/error line(s) in {self.log_path}{suffix}:", *notable, sep="\n         ",
                  flush=True)

    def notable_log_lines(self, limit=5):
        """Warnings and errors the server logged during the run (coturn's startup chatter excluded)."""
        paths = [self.log_path] + ([self.log_path + ".stderr"] if self.kind in OURS_KINDS else [])
        lines = []
        for path in paths:
            if not os.path.exists(path):
                continue
            with open(path, errors="replace") as f:
                for line in f:
                    low = line.lower()
                    if self.kind not in COTURN_KINDS:
                        if any(n in low for n in OURS_STARTUP_NOISE):
                            continue
                        if "warning" in low or "error" in low or "critical" in low or "fatal" in low:
                            lines.append(line.rstrip())
                    elif ("error" in low or "cannot" in low or "fail" in low) and not any(
                            s in low for s in COTURN_STARTUP_NOISE):
                        lines.append(line.rstrip())
        return lines[:limit], len(lines)


def coturn_command(kind, port, base):
    """turnserver's command line for a coturn kind: Debian's 4.6.1, 4.17.1 standard or 4.17.1 multiplexed.

    4.17.1 takes every flag 4.6.1 gets except two it deprecated: `--no-cli` (logged as an ERROR; the CLI is off unless
    `--cli`) and `--no-dtls` (a warning; DTLS is off unless `--dtls`), so those two are left out for it. The
    multiplexed mode adds `--multiplex-peer --udp-gso` and a free base for its per-thread relay sockets (2 ports per
    relay thread; one relay thread per CPU by default)."""
    common = ["-n", "--listening-ip", "127.0.0.1", "--listening-port", str(port),
              "--relay-ip", "127.0.0.1", "--min-port", str(RELAY_MIN), "--max-port", str(RELAY_MAX),
              "--no-tls", "--log-file", "stdout", "--pidfile", base + ".pid", "--db", base + ".sqlite",
              "--realm", REALM, "--lt-cred-mech", "--user", f"{USER}:{PASSWORD}", "--allow-loopback-peers"]
    if kind in ("coturn", "coturn461"):
        return [coturn_binary(kind)] + common + ["--no-dtls", "--no-cli"]
    cmd = [coturn_binary(kind)] + common
    if kind == "coturn417mux":
        cmd += ["--multiplex-peer", "--udp-gso", "--multiplex-peer-port", str(free_port_block(2 * (os.cpu_count() or 1)))]
    return cmd


# Ours warns about these on every start with the benchmark's flags (20,000 fds against the bounds its defaults allow;
# no signaling key); they are not about the benchmark.
OURS_STARTUP_NOISE = ("open-file limit", "signaling is open")

# coturn prints these on every start with our flags; they are not about the benchmark.
COTURN_STARTUP_NOISE = (
    "cannot find certificate", "cannot find private key", "cannot start tls", "cannot start dtls",
    "no dtls", "no tls", "cannot open file", "cannot find config file", "cannot set", "cli",
    "prometheus", "redis", "cannot support stun change_request",
)


def machine_busy_seconds():
    """CPU seconds spent by everything on the machine (all CPUs, not idle or iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK_TCK


def wait_for_quiet(max_wait=10.0, threshold=0.10):
    """The machine is shared: before a measured run, wait (bounded) until other processes use under `threshold`
    cores over one second. Returns the load seen last, so a run that starts on a busy machine can be flagged."""
    deadline = time.time() + max_wait
    while True:
        b0 = machine_busy_seconds()
        time.sleep(1.0)
        load = machine_busy_seconds() - b0
        if load < threshold or time.time() >= deadline:
            if load >= threshold:
                log(f"machine still busy ({load:.2f} cores used by other processes); running anyway")
            return load


def write_json(path, data):
    """The summary a driver hands to compare-coturn (`--json PATH`); nothing when no path was given."""
    if path:
        import json
        with open(path, "w") as f:
            json.dump(data, f, indent=1)


def median(values):
    return statistics.median(values) if values else float("nan")


def parse_kv(line):
    out = {}
    for item in line.split():
        if "=" in item:
            k, v = item.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def ratio(a, b):
    return a / b if b else float("nan")


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)
