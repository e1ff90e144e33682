"""Fairness under a hostile STUN/TURN-over-TCP client (Python stdlib only).

One TCP client pipelines unauthenticated Allocate requests as fast as the server reads them and never reads an
answer; meanwhile PROBES new TCP connections, one every 10 ms, each send one Binding request and time its answer.
A server whose TCP listeners spread connections over several threads puts about half of the probes on the flooding
client's thread; their wait is what the flood costs everyone else there.

Usage: python3 Benchmarks/tcp_flood_fairness.py PORT [MESSAGES-IN-THE-REPEATED-BUFFER [PROBES [KIND]]]
  KIND: allocate (default: unauthenticated Allocate requests, each answered with a 401 the client never reads) or
  indication (Binding indications, which get no answer, so the flooding connection never stops draining)
  against e.g. `switchboard serve --listen-ip 127.0.0.1 --stun-port 0 --http-port 0 --admin-port 0` (PORT from its
  `stun tcp 127.0.0.1:PORT` line) or any STUN server listening on TCP at 127.0.0.1:PORT.
Prints what the flooder sent and the probes' latency percentiles; "over 1 ms" are the probes that waited."""
import os, socket, struct, sys, threading, time

HOST, PORT = "127.0.0.1", int(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 60000
PROBES = int(sys.argv[3]) if len(sys.argv) > 3 else 200
KIND = sys.argv[4] if len(sys.argv) > 4 else "allocate"

def msg(mtype, attrs=b""):
    return struct.pack("!HHI", mtype, len(attrs), 0x2112A442) + os.urandom(12) + attrs

allocate = lambda: msg(0x0003, struct.pack("!HHI", 0x0019, 4, 17 << 24))
indication = lambda: msg(0x0011)
if KIND not in ("allocate", "indication"):
    sys.exit(f"unknown KIND {KIND!r}: allocate or indication")
flood = b"".join((allocate if KIND == "allocate" else indication)() for _ in range(N))
UNIT = len(flood) // N

def flooder(stop):
    s = socket.create_connection((HOST, PORT))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    sent = 0
    try:
        while not stop.is_set():
            off = sent % len(flood)
            sent += s.send(flood[off:off + 65536])
    except Exception as e:
        print("flooder:", type(e).__name__, e, "after", sent, "bytes")
    print(f"flooder sent {sent} bytes ({sent // UNIT} {KIND}s)")
    stop.wait()
    s.close()

stop = threading.Event()
t = threading.Thread(target=flooder, args=(stop,)); t.start()
time.sleep(0.2)
lat = []
for i in range(PROBES):
    c = socket.create_connection((HOST, PORT))
    c.settimeout(5)
    t0 = time.perf_counter()
    c.sendall(msg(0x0001))
    try:
        data = c.recv(2048)
        lat.append((time.perf_counter() - t0) * 1000 if data else float("inf"))
    except socket.timeout:
        lat.append(float("inf"))
    c.close()
    time.sleep(0.01)
stop.set(); t.join()
lat.sort()
slow = [x for x in lat if x > 1]
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"probes {len(lat)}: p50 {q(0.5):.2f} ms, p90 {q(0.9):.2f}, p99 {q(0.99):.2f}, max {lat[-1]:.2f}; over 1 ms: {len(slow)}"
      + (f", their median {slow[len(slow)//2]:.2f} ms" if slow else ""))
