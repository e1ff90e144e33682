#!/usr/bin/env python3
"""Revoke, as a real WebRTC peer feels it: two aiortc peers relay a data channel through our TURN as user `mallory`;
the admin API lists their allocations; `POST /admin/users/mallory/revoke` must close every one of them, stop the
data channel (no echo comes back through the relay any more), and leave the listing empty.

usage: admin_revoke.py SWITCHBOARD_BINARY
"""
import asyncio, json, subprocess, sys, time, urllib.request, urllib.error

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from serve_process import ADMIN_TOKEN as TOKEN, start


def admin(port, method, path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def scenario(ports):
    config = RTCConfiguration(iceServers=[RTCIceServer(urls=f"turn:127.0.0.1:{ports['stun udp']}", username="mallory",
                                                       credential="mallory-password")],
                              iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    offerer, answerer = RTCPeerConnection(config), RTCPeerConnection(config)
    echoes, opened = asyncio.Queue(), asyncio.Event()
    channel = offerer.createDataChannel("revoke")

    @answerer.on("datachannel")
    def on_datachannel(remote):
        remote.on("message", lambda message: remote.send(message))

    channel.on("open", lambda: opened.set())
    channel.on("message", lambda message: echoes.put_nowait(message))
    try:
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await asyncio.wait_for(opened.wait(), 20)
        channel.send("before")
        assert await asyncio.wait_for(echoes.get(), 10) == "before"

        listed = admin(ports["admin"], "GET", "/admin/allocations")["allocations"]
        mine = [a for a in listed if a["user"] == "mallory"]
        print(f"allocations of mallory before: {len(mine)} ({sum(a['packetsToPeer'] for a in mine)} packets to peers)")
        assert len(mine) >= 2, listed

        revoked = admin(ports["admin"], "POST", "/admin/users/mallory/revoke")
        print("revoke:", json.dumps(revoked))
        assert revoked["allocationsClosed"] == len(mine), revoked

        after = [a for a in admin(ports["admin"], "GET", "/admin/allocations")["allocations"] if a["user"] == "mallory"]
        assert after == [], after
        channel.send("after")
        try:
            echo = await asyncio.wait_for(echoes.get(), 5)
            raise AssertionError(f"an echo came back through the relay after the revoke: {echo!r}")
        except asyncio.TimeoutError:
            print("no echo after the revoke: the relay is gone")
        # aiortc's refreshes with the revoked credentials must not bring anything back.
        await asyncio.sleep(1)
        assert [a for a in admin(ports["admin"], "GET", "/admin/allocations")["allocations"] if a["user"] == "mallory"] == []
    finally:
        await offerer.close()
        await answerer.close()


def main():
    proc, ports = start(sys.argv[1], "--user", "mallory:mallory-password", "--relay-ports", "58000-58999")
    try:
        asyncio.run(scenario(ports))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


main()
