#!/usr/bin/env python3
"""Webhooks across a crash: a real HTTP receiver on loopback that refuses (500) everything until the server has been
killed with SIGKILL, then accepts. Every event accepted before the kill must arrive after a restart on the same queue
directory, with a valid signature, exactly once after de-duplication by `id`, in order per endpoint.

usage: webhook_crash.py SWITCHBOARD_BINARY

Events come from `switchboard turn-check` runs (each: two allocation.created, two allocation.closed): three before
the kill, one after the restart, so 16 distinct events must be seen.
"""
import hashlib, hmac, http.server, json, os, signal, subprocess, sys, tempfile, threading, time

from serve_process import start

SECRET = "interop-webhook-secret"


class Receiver(http.server.BaseHTTPRequestHandler):
    accepting = False
    lock = threading.Lock()
    seen = []          # (id, type) in arrival order, delivered (2xx) ones only
    refused = 0
    bad_signatures = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("Switchboard-Timestamp", "")
        expected = hmac.new(SECRET.encode(), (timestamp + ".").encode() + body, hashlib.sha256).hexdigest()
        offered = [part.strip()[3:] for part in self.headers.get("Switchboard-Signature", "").split(",")
                   if part.strip().startswith("v1=")]
        with Receiver.lock:
            if not any(hmac.compare_digest(expected, sig) for sig in offered):
                Receiver.bad_signatures += 1
                self.send_response(400)
                self.end_headers()
                return
            if not Receiver.accepting:
                Receiver.refused += 1
                self.send_response(500)
                self.end_headers()
                return
            event = json.loads(body)
            assert event["id"] == self.headers.get("Switchboard-Id"), (event["id"], self.headers.get("Switchboard-Id"))
            Receiver.seen.append((event["id"], event["type"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def turn_check(binary, port):
    result = subprocess.run([binary, "turn-check", f"turn:127.0.0.1:{port}", "--user", "alice", "--password",
                             "alice-password", "--count", "1", "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def main():
    binary = sys.argv[1]
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    queue = tempfile.mkdtemp(prefix="switchboard-webhook-queue-")
    arguments = ["--user", "alice:alice-password", "--relay-ports", "59000-59999",
                 "--webhook-url", f"http://127.0.0.1:{receiver.server_address[1]}/hook", "--webhook-secret", SECRET,
                 "--webhook-queue-dir", queue]
    proc, ports = start(binary, *arguments)
    try:
        for _ in range(3):
            turn_check(binary, ports["stun udp"])
        deadline = time.time() + 10
        while Receiver.refused == 0 and time.time() < deadline:
            time.sleep(0.1)
        assert Receiver.refused > 0, "the server never tried to deliver"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        print(f"killed the server with SIGKILL after {Receiver.refused} refused attempts, none delivered")
        with Receiver.lock:
            Receiver.accepting = True
        proc, ports = start(binary, *arguments)
        turn_check(binary, ports["stun udp"])
        deadline = time.time() + 60
        while time.time() < deadline:
            with Receiver.lock:
                distinct = {event_id for event_id, _ in Receiver.seen}
            if len(distinct) >= 16:
                break
            time.sleep(0.2)
        with Receiver.lock:
            seen = list(Receiver.seen)
        distinct = []
        for event_id, kind in seen:
            if event_id not in [d for d, _ in distinct]:
                distinct.append((event_id, kind))
        kinds = [kind for _, kind in distinct]
        print(f"delivered {len(seen)} requests, {len(distinct)} distinct events, bad signatures {Receiver.bad_signatures}")
        assert Receiver.bad_signatures == 0
        assert len(distinct) == 16, kinds
        assert kinds.count("allocation.created") == 8 and kinds.count("allocation.closed") == 8, kinds
        # Ordered per endpoint: each turn-check's allocations close after they were created.
        first_closed = kinds.index("allocation.closed")
        assert kinds[:first_closed] == ["allocation.created"] * first_closed, kinds
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        receiver.shutdown()


main()
