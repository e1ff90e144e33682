#!/usr/bin/env python3
"""Two aiortc peers forced to relay-only candidates through a TURN server open a data channel and exchange messages.

usage: aiortc_pair.py TURN_URL USERNAME PASSWORD [--messages N] [--timeout SECONDS]

Prints one JSON line with what happened and exits 0 only when every message came back and the selected
candidate pair is relay/relay on both sides.
"""
import argparse
import asyncio
import json
import sys
import time

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy


def relay_only(url, username, password):
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=url, username=username, credential=password)],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


def selected_pair_types(pc):
    # aiortc exposes the nominated pair on the ICE connection of the SCTP transport's DTLS transport.
    transport = pc.sctp.transport.transport
    pair = transport._connection._nominated.get(1)
    if pair is None:
        return None
    return pair.local_candidate.type, pair.remote_candidate.type


async def exchange(url, username, password, count, timeout):
    offerer = RTCPeerConnection(relay_only(url, username, password))
    answerer = RTCPeerConnection(relay_only(url, username, password))
    received = []
    all_echoed = asyncio.Event()
    opened = asyncio.Event()

    channel = offerer.createDataChannel("interop")

    @answerer.on("datachannel")
    def on_datachannel(remote):
        @remote.on("message")
        def on_message(message):
            remote.send(message)  # echo back through the relay

    @channel.on("open")
    def on_open():
        opened.set()

    @channel.on("message")
    def on_echo(message):
        received.append(message)
        if len(received) == count:
            all_echoed.set()

    started = time.monotonic()
    try:
        await offerer.setLocalDescription(await offerer.createOffer())
        offer_candidates = offerer.localDescription.sdp.count("typ relay")
        other_candidates = sum(offerer.localDescription.sdp.count(f"typ {kind}") for kind in ("host", "srflx"))
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await asyncio.wait_for(opened.wait(), timeout)
        connected_after = time.monotonic() - started
        for index in range(count):
            channel.send(f"message {index}")
        await asyncio.wait_for(all_echoed.wait(), timeout)
        pairs = [selected_pair_types(offerer), selected_pair_types(answerer)]
        expected = [f"message {index}" for index in range(count)]
        ok = received == expected and offer_candidates > 0 and other_candidates == 0 and all(
            pair == ("relay", "relay") for pair in pairs)
        return ok, {
            "sent": count, "echoed": len(received), "in_order": received == expected,
            "relay_candidates": offer_candidates, "non_relay_candidates": other_candidates,
            "selected_pairs": pairs, "connected_seconds": round(connected_after, 3),
        }
    except asyncio.TimeoutError:
        return False, {"sent": count, "echoed": len(received), "error": f"timed out after {timeout}s",
                       "channel_open": opened.is_set()}
    finally:
        await offerer.close()
        await answerer.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=20)
    arguments = parser.parse_args()
    ok, report = asyncio.run(exchange(arguments.url, arguments.username, arguments.password,
                                      arguments.messages, arguments.timeout))
    report["ok"] = ok
    print(json.dumps(report))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
