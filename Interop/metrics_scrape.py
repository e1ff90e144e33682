#!/usr/bin/env python3
"""/metrics after real traffic, read by Prometheus's own text parser (prometheus_client), and the admin API's view
of the same server.

usage: metrics_scrape.py SWITCHBOARD_BINARY

Starts `switchboard serve` on loopback with its own admin token, sends exactly 7 STUN Binding requests from one UDP
socket, runs `switchboard turn-check` (two allocations, 5 round trips: 10 packets each way through the relay), and
scrapes /metrics: every family must parse, and the counts must match what was sent. Then the admin API must refuse
a wrong token and list no allocation (turn-check deletes its own).
"""
import json, os, socket, struct, subprocess, sys, time, urllib.request, urllib.error

from prometheus_client.parser import text_string_to_metric_families

from serve_process import ADMIN_TOKEN as TOKEN, start


def bindings(port, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    for _ in range(count):
        request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)
        sock.sendto(request, ("127.0.0.1", port))
        answer, _ = sock.recvfrom(2048)
        assert answer[:2] == b"\x01\x01", answer[:2]
    sock.close()


def get(port, path, token=TOKEN):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def main():
    proc, ports = start(sys.argv[1], "--user", "alice:alice-password", "--relay-ports", "57000-57999")
    try:
        bindings(ports["stun udp"], 7)
        check = subprocess.run([sys.argv[1], "turn-check", f"turn:127.0.0.1:{ports['stun udp']}", "--user", "alice",
                                "--password", "alice-password", "--count", "5", "--json"],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        status, text = get(ports["admin"], "/metrics")
        assert status == 200, status
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        def value(name, **labels):
            return samples.get((name, tuple(sorted(labels.items()))))
        expected = {
            ("switchboard_stun_binding_responses_total", ()): 7,
            ("switchboard_turn_relayed_packets_total", (("direction", "to-peer"),)): 10,
            ("switchboard_turn_relayed_packets_total", (("direction", "to-client"),)): 10,
            ("switchboard_turn_allocations_created_total", (("relay", "udp"), ("transport", "udp"))): 2,
            ("switchboard_turn_allocations_closed_total", (("reason", "deleted"), ("transport", "udp"))): 2,
            ("switchboard_turn_channels_bound_total", ()): 1,
            ("switchboard_turn_allocations", (("transport", "udp"),)): 0,
        }
        for (name, labels), want in expected.items():
            got = value(name, **dict(labels))
            print(f"{name}{dict(labels)} = {got}")
            assert got == want, f"{name}{dict(labels)}: {got}, expected {want}"
        assert value("process_resident_memory_bytes") > 0
        print(f"{len(samples)} samples parsed")

        status, body = get(ports["admin"], "/admin/allocations")
        assert status == 200 and json.loads(body) == {"allocations": []}, (status, body)
        status, body = get(ports["admin"], "/metrics", token="not-the-token-at-all")
        assert status == 401 and json.loads(body)["error"] == "unauthorized", (status, body)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


main()
