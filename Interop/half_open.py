#!/usr/bin/env python3
"""10,000 half-open TCP connections on the HTTP port must not disturb signaling for anyone else.

Starts `switchboard serve` (path in argv[1]) with a raised descriptor limit, opens 10,000 TCP connections to the
HTTP port that never send a byte, then checks that two WebSocket peers still join a room and signal each other
quickly, that /healthz answers, and that the server is still alive after the connections go away.
"""
import asyncio, json, resource, socket, subprocess, sys, time, urllib.request

import websockets

COUNT = int(__import__("os").environ.get("HALF_OPEN_COUNT", "10000"))
FLOOD = 2000


def raise_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 30_000), hard))


async def signal_roundtrip(port):
    url = f"ws://127.0.0.1:{port}/v1/ws"
    async with websockets.connect(url) as a, websockets.connect(url) as b:
        await a.recv(); await b.recv()
        await a.send(json.dumps({"type": "join", "room": "half-open"}))
        await a.recv()
        await b.send(json.dumps({"type": "join", "room": "half-open"}))
        joined = json.loads(await b.recv())
        target = joined["peers"][0]["id"]
        start = time.monotonic()
        await b.send(json.dumps({"type": "signal", "room": "half-open", "to": target, "data": "ping"}))
        while True:
            frame = json.loads(await asyncio.wait_for(a.recv(), 5))
            if frame["type"] == "signal":
                return time.monotonic() - start


def main():
    raise_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < COUNT + FLOOD + 500:
        sys.exit(f"FAIL: the descriptor limit ({soft}, hard {hard}) is too low to hold {COUNT} connections")
    server = subprocess.Popen([sys.argv[1], "serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0",
                               "--log-level", "error",
                               # Silent connections are closed after the request deadline (10 s by default): hold
                               # them for the whole check.
                               "--http-request-timeout", "120"], stdout=subprocess.PIPE, text=True, preexec_fn=raise_limit)
    try:
        port = None
        while port is None:
            line = server.stdout.readline()
            if not line:
                sys.exit("FAIL: server exited before its readiness lines")
            if line.startswith("http "):
                port = int(line.split(":")[-1])
        def open_from(source):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((source, 0))
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            return s
        # The flood first: 2,000 connections fit the listen backlog, so each is accepted (and the excess answered)
        # without the kernel dropping SYNs that the client would only retry seconds later.
        flood = [open_from("127.0.0.2") for _ in range(FLOOD)]
        refused, closed_silently, answered, deadline = 0, 0, set(), time.monotonic() + 60
        while refused < FLOOD - 1000 and time.monotonic() < deadline:
            time.sleep(0.5)
            for index, s in enumerate(flood):
                if index in answered:
                    continue
                try:
                    data = s.recv(64)
                    if data.startswith(b"HTTP/1.1 429"):
                        refused += 1
                    else:
                        closed_silently += 1
                    answered.add(index)
                except BlockingIOError:
                    pass
                except OSError:
                    answered.add(index)
                    closed_silently += 1
        print(f"{FLOOD} connections from one address: {refused} answered 429 (bound 1000 per address), {closed_silently} closed without an answer")
        if refused < FLOOD - 1000:
            sys.exit("FAIL: the per-address connection bound did not hold")
        sockets = flood + [open_from(f"127.0.1.{1 + i % 20}") for i in range(COUNT)]
        time.sleep(2)
        latency = asyncio.run(signal_roundtrip(port))
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status
        print(f"{COUNT} half-open connections held; signal delivered in {latency * 1000:.1f} ms; /healthz {health}")
        for s in sockets:
            s.close()
        time.sleep(0.5)
        latency_after = asyncio.run(signal_roundtrip(port))
        if health != 200 or latency > 1 or server.poll() is not None:
            sys.exit("FAIL: signaling disturbed by half-open connections")
        print(f"after closing them: signal delivered in {latency_after * 1000:.1f} ms; server alive")
        start = time.monotonic()
        server.terminate()
        server.wait(timeout=20)
        print(f"SIGTERM: exited in {time.monotonic() - start:.1f} s with status {server.returncode}")
    finally:
        if server.poll() is None:
            server.kill()


if __name__ == "__main__":
    main()
