#!/usr/bin/env python3
"""Switchboard signaling with real WebRTC peers: headless Chromium running the demo page, and aiortc.

usage: browser_signaling.py [SWITCHBOARD_BINARY] [--timeout SECONDS] [--only NAME ...]

The binary comes from the argument, else $SWITCHBOARD, else .build/debug/switchboard. The script starts its own
`switchboard serve` on 127.0.0.1 (open signaling, loopback peers allowed, relay ports in a range of its own) and
runs these checks, printing one PASS/FAIL line each:

  browser-websocket-relay   two Chromium pages, transport=websocket, relay only: data channel both ways, the
                            selected pair is relay/relay through our TURN server
  browser-poll-relay        the same over long polling (sb.transportKind === 'poll')
  browser-aiortc-relay      an aiortc peer speaking the protocol with `websockets` answers Chromium's offer;
                            messages both ways, relay pairs on both sides
  browser-resume-broadcast  a page's WebSocket is closed while another page broadcasts; after the automatic
                            resume every broadcast arrived exactly once, in order, with no peer-left
  browser-resume-broadcast-poll  the same over long polling (the transport is abandoned with its poll pending)
  browser-turns-relay       two Chromium pages, relay only with nothing but our `turns:` server (the TLS port):
                            data channel both ways, the selected pair relay/relay with relay protocol tls
  browser-turns-mux-relay   two Chromium pages loaded over HTTPS from the one-port mux, signaling over WSS on that
                            port, relay only with nothing but `turns:` on that same port: data channel both ways,
                            the selected pair relay/relay with relay protocol tls

Exits non-zero when any check fails. Every wait has a timeout and a watchdog ends the whole run (killing the
server and the browsers it started) after --timeout seconds.
"""
import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import websockets
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from aiortc_pair import selected_pair_types  # the script's own directory is on sys.path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
RELAY_PORTS = (52000, 52999)  # Interop/run's own servers use 50000-51999


class CheckFailed(Exception):
    pass


# ---------------------------------------------------------------- processes

def process_tree(pid):
    """pid and its descendants (children first), from /proc."""
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as children:
                for child in children.read().split():
                    found.extend(process_tree(int(child)))
    except OSError:
        pass
    found.append(pid)
    return found


def kill_tree(pid):
    for each in process_tree(pid):
        try:
            os.kill(each, signal.SIGKILL)
        except OSError:
            pass


class Server:
    """`switchboard serve` on 127.0.0.1 with free ports; reads the readiness lines from its stdout."""

    def __init__(self, binary):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        # A certificate for 127.0.0.1 that the browsers are told to trust by its key (no CA involved), and a fixed
        # mux port, so that iceServers name it.
        self.certs = tempfile.mkdtemp(prefix="switchboard-browser-tls-")
        cert, key = os.path.join(self.certs, "cert.pem"), os.path.join(self.certs, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        public = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=public, check=True, capture_output=True).stdout
        import base64, hashlib
        self.spki = base64.b64encode(hashlib.sha256(der).digest()).decode()
        self.mux_port = free_tcp_port()
        self.process = subprocess.Popen(
            [binary, "serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0",
             "--allow-peer", "127.0.0.0/8", "--relay-ports", f"{RELAY_PORTS[0]}-{RELAY_PORTS[1]}",
             "--tls-cert", cert, "--tls-key", key, "--tls-port", "0", "--mux-port", str(self.mux_port),
             "--admin-token", ADMIN_TOKEN, "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines = []
        ready = threading.Event()

        def read():
            for line in self.process.stdout:
                self.lines.append(line.strip())
                if line.startswith("http "):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        # `admin` is the last readiness line: wait for it so every port is known.
        deadline = time.monotonic() + 20
        while not any(line.startswith("admin ") for line in self.lines) and time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if not ready.wait(20) or not any(line.startswith("http ") for line in self.lines):
            self.stop()
            raise CheckFailed(f"server did not report its http listener: {self.lines} {self.errors()}")
        for line in self.lines:
            kind, _, address = line.partition(" ")
            if kind == "stun":
                self.stun_port = int(address.rsplit(":", 1)[1])
            elif kind == "http":
                self.http_port = int(address.rsplit(":", 1)[1])
            elif line.startswith("turn tls "):
                self.tls_port = int(address.rsplit(":", 1)[1])
            elif kind == "admin":
                self.admin_port = int(address.rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.mux_base = f"https://127.0.0.1:{self.mux_port}"

    def errors(self):
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


ADMIN_TOKEN = "interop-browser-admin-token-0123"


def free_tcp_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium under chromedriver; `spki`: trust the server certificate with that key."""

    def __init__(self, name, spki=None):
        self.name = name
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(flag)
        if spki:
            options.add_argument(f"--ignore-certificate-errors-spki-list={spki}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.service = Service(executable_path=CHROMEDRIVER)
        self.driver = webdriver.Chrome(service=self.service, options=options)
        self.driver.set_page_load_timeout(15)
        self.driver.set_script_timeout(10)

    def open_demo(self, base, **params):
        self.driver.get(f"{base}/?{urllib.parse.urlencode(params)}")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def js_async(self, script, *args):
        """Runs script with `done` bound to selenium's callback; a thrown error comes back as {error}."""
        wrapped = ("const done = arguments[arguments.length - 1];"
                   "(async () => {" + script + "})().catch((e) => done({error: String(e)}));")
        result = self.driver.execute_async_script(wrapped, *args)
        if isinstance(result, dict) and "error" in result:
            raise CheckFailed(f"{self.name}: {result['error']}")
        return result

    def wait(self, expression, what, timeout=15):
        """Polls the JS expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.js(f"try {{ return ({expression}); }} catch (e) {{ return null; }}")
            if value:
                return value
            time.sleep(0.1)
        raise CheckFailed(f"{self.name}: timed out after {timeout}s waiting for {what} (last value {value!r})")

    def state(self):
        """A summary of window.demo, for failure reports."""
        try:
            return self.js("""
                const d = window.demo; if (!d) return 'no window.demo';
                return {opened: d.opened, received: d.received, pairs: d.pairs, errors: d.errors.map(String),
                        self: d.joined && d.joined.self, peers: Object.keys(d.peers),
                        signaling: d.sb && d.sb.state, transport: d.sb && d.sb.transportKind,
                        log: document.getElementById('log').textContent.split('\\n').slice(-15)};""")
        except Exception as error:  # the report must not hide the original failure
            return f"(no state: {error!r})"

    def console(self):
        try:
            return [entry["message"] for entry in self.driver.get_log("browser")][-10:]
        except Exception:
            return []

    def quit(self):
        try:
            self.driver.quit()
        except Exception:
            pass
        if self.service.process is not None:
            kill_tree(self.service.process.pid)


# ---------------------------------------------------------------- aiortc peer

def ice_servers(joined_servers):
    """The joined frame's iceServers (RTCIceServer dictionaries) as aiortc RTCIceServer objects."""
    return [RTCIceServer(urls=server["urls"], username=server.get("username"), credential=server.get("credential"))
            for server in joined_servers]


def split_candidates(sdp):
    """SDP without its a=candidate / a=end-of-candidates lines, and those candidates as RTCIceCandidateInit."""
    lines, candidates = [], []
    mline_index, mid = -1, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline_index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        if line.startswith("a=candidate:"):
            candidates.append((line[len("a="):], mline_index))
            continue
        if line == "a=end-of-candidates":
            continue
        lines.append(line)
    # a=mid may come after the candidates in a section; resolve the mids once the whole SDP is read.
    mids, mline_index = {}, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline_index += 1
        elif line.startswith("a=mid:"):
            mids[mline_index] = line[len("a=mid:"):]
    inits = [{"candidate": text, "sdpMid": mids.get(index), "sdpMLineIndex": index} for text, index in candidates]
    return "\r\n".join(lines) + "\r\n", inits


class AiortcPeer:
    """Joins a room over WebSocket signaling, waits for an offer, answers it (relay only) and trickles its
    candidates as separate signals. Runs its own event loop in a thread; the main thread reads its state."""

    def __init__(self, base, room):
        self.url = base.replace("http://", "ws://") + "/v1/ws"
        self.room = room
        self.joined = None
        self.received = []
        self.channel = None
        self.remote = None
        self.pc = None
        self.offers = 0
        self.candidates_in = 0
        self.candidates_out = 0
        self.pongs_sent = 0
        self.errors = []
        self.pending = []
        self.next_id = 1
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),), daemon=True)
        self.thread.start()

    async def main(self):
        self.stopping = asyncio.Event()
        try:
            async with websockets.connect(self.url, open_timeout=10, close_timeout=2) as ws:
                self.ws = ws
                welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if welcome.get("type") != "welcome":
                    raise CheckFailed(f"first frame is not welcome: {welcome}")
                await self.send({"type": "join", "room": self.room, "meta": {"name": "aiortc"}})
                reader = asyncio.ensure_future(self.read(ws))
                stop = asyncio.ensure_future(self.stopping.wait())
                await asyncio.wait([reader, stop], return_when=asyncio.FIRST_COMPLETED)
                if reader.done() and reader.exception():
                    raise reader.exception()
                reader.cancel()
        except Exception as error:
            self.errors.append(f"aiortc peer: {error!r}")
        finally:
            self.ready.set()
            if self.pc is not None:
                await self.pc.close()

    async def send(self, frame):
        frame["id"] = f"py-{self.next_id}"
        self.next_id += 1
        await self.ws.send(json.dumps(frame))

    async def signal(self, data):
        await self.send({"type": "signal", "room": self.room, "to": self.remote, "data": data})

    async def read(self, ws):
        async for text in ws:
            frame = json.loads(text)
            kind = frame.get("type")
            if kind == "joined":
                self.config = RTCConfiguration(iceServers=ice_servers(frame["iceServers"]),
                                               iceTransportPolicy=RTCIceTransportPolicy.RELAY)
                self.joined = frame
                self.ready.set()
            elif kind == "error":
                self.errors.append(f"error frame: {frame}")
            elif kind == "signal":
                await self.on_signal(frame)

    async def on_signal(self, frame):
        data = frame.get("data") or {}
        if data.get("kind") == "offer":
            self.offers += 1
            self.remote = frame["from"]
            self.pc = RTCPeerConnection(self.config)

            @self.pc.on("datachannel")
            def on_datachannel(channel):
                self.channel = channel
                channel.on("message", lambda message: self.on_message(channel, message))

            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
            for candidate in self.pending:
                await self.pc.addIceCandidate(candidate)
            self.pending = []
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            # aiortc gathers before answering; send the candidates as trickled signals after the bare answer.
            sdp, candidates = split_candidates(self.pc.localDescription.sdp)
            await self.signal({"kind": "answer", "sdp": sdp})
            for candidate in candidates:
                await self.signal({"kind": "candidate", "candidate": candidate})
                self.candidates_out += 1
        elif data.get("kind") == "candidate":
            init = data.get("candidate") or {}
            text = init.get("candidate") or ""
            if not text:
                return  # end-of-candidates marker
            candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
            candidate.sdpMid = init.get("sdpMid")
            candidate.sdpMLineIndex = init.get("sdpMLineIndex")
            self.candidates_in += 1
            if self.pc is not None and self.pc.remoteDescription is not None:
                await self.pc.addIceCandidate(candidate)
            else:
                self.pending.append(candidate)

    def on_message(self, channel, message):
        body = json.loads(message)
        if "ping" in body:
            channel.send(json.dumps({"pong": body["ping"]}))
            self.pongs_sent += 1
        elif "text" in body:
            self.received.append(body["text"])

    def send_text(self, text):
        async def send():
            self.channel.send(json.dumps({"text": text}))
        asyncio.run_coroutine_threadsafe(send(), self.loop).result(5)

    def pair_types(self):
        async def read():
            return selected_pair_types(self.pc)
        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(5)

    def stop(self):
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopping.set)
            self.thread.join(10)

    def state(self):
        return {"joined": bool(self.joined), "offers": self.offers, "candidates_in": self.candidates_in,
                "candidates_out": self.candidates_out, "channel": self.channel and self.channel.readyState,
                "received": self.received, "pongs_sent": self.pongs_sent, "errors": self.errors}


def wait_until(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise CheckFailed(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------- checks

def room_name(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def check_relay_pair(browser, server, peer_id, url_pattern=None):
    """demo.pairs[peer_id] (refreshed every second) must be relay/relay, both ends relayed by our server."""
    pair = browser.wait(f"(() => {{ const p = demo.pairs[{json.dumps(peer_id)}]; return p && p.local && p.remote && p; }})()",
                        f"a selected candidate pair to {peer_id}", timeout=10)
    problems = []
    if pair["local"] != "relay" or pair["remote"] != "relay":
        problems.append(f"pair is {pair['local']}/{pair['remote']}, not relay/relay")
    url = pair.get("url") or ""
    if not re.fullmatch(url_pattern or rf"turns?:127\.0\.0\.1:{server.stun_port}(\?transport=(udp|tcp))?", url):
        problems.append(f"local candidate url {url!r} is not our TURN server turn:127.0.0.1:{server.stun_port}")
    for end in ("localAddress", "remoteAddress"):
        host, _, port = (pair.get(end) or "").rpartition(":")
        if host != "127.0.0.1" or not port.isdigit() or not RELAY_PORTS[0] <= int(port) <= RELAY_PORTS[1]:
            problems.append(f"{end} {pair.get(end)!r} is not a relayed address of our server "
                            f"(127.0.0.1:{RELAY_PORTS[0]}-{RELAY_PORTS[1]})")
    if problems:
        raise CheckFailed("; ".join(problems) + f" — pair {pair}")
    return pair


def talk_both_ways(first, second, words):
    """Waits for both pages' data channels, then sends a message each way and waits for it to arrive."""
    for browser in (first, second):
        browser.wait("demo.opened >= 1", "an open data channel")
    first.js("demo.send(arguments[0])", f"{words} from the first page")
    second.js("demo.send(arguments[0])", f"{words} from the second page")
    second.wait(f"demo.received.includes('{words} from the first page')", "the first page's message")
    first.wait(f"demo.received.includes('{words} from the second page')", "the second page's message")


def turns_relay(server, browsers, base, port):
    """Relay only, with nothing but the turns: URL on `port` offered to ICE; the page (and its signaling) from `base`."""
    first, second = browsers
    room = room_name("turns")
    only = f"turns:127.0.0.1:{port}"
    for browser, name in ((first, "first"), (second, "second")):
        browser.open_demo(base, room=room, relay="1", transport="websocket", autojoin="1", name=name, ice=only)
        browser.wait("demo.joined && demo.joined.self", f"the {name} page to join over WSS")
    first_id, second_id = first.js("return demo.joined.self"), second.js("return demo.joined.self")
    for browser in browsers:
        url = browser.js("return location.href")
        if not url.startswith(base):
            raise CheckFailed(f"{browser.name}: the page is {url}, not on {base}")
        if browser.js("return demo.joined.iceServers.some((s) => [].concat(s.urls).some((u) => u.startsWith(arguments[0])))", only) is not True:
            raise CheckFailed(f"{browser.name}: {only} is not among the joined frame's iceServers")
    talk_both_ways(first, second, "over tls")
    pattern = rf"turns:127\.0\.0\.1:{port}(\?transport=tcp)?"
    pairs = [check_relay_pair(first, server, second_id, pattern), check_relay_pair(second, server, first_id, pattern)]
    for pair in pairs:
        if pair.get("relayProtocol") != "tls":
            raise CheckFailed(f"relay protocol is {pair.get('relayProtocol')!r}, not tls — pair {pair}")
    return f"page from {base}, turns: on port {port}; pairs relay/relay via {pairs[0]['url']} over {pairs[0]['relayProtocol']}"


def two_pages(server, browsers, transport):
    first, second = browsers
    room = room_name(transport)
    first.open_demo(server.base, room=room, relay="1", transport=transport, autojoin="1", name="first")
    first_id = first.wait("demo.joined && demo.joined.self", "the first page to join")
    second.open_demo(server.base, room=room, relay="1", transport=transport, autojoin="1", name="second")
    second_id = second.wait("demo.joined && demo.joined.self", "the second page to join")
    for browser in browsers:
        kind = browser.js("return demo.sb.transportKind")
        if kind != transport:
            raise CheckFailed(f"{browser.name}: demo.sb.transportKind is {kind!r}, expected {transport!r}")
        if browser.js("return demo.joined.iceServers.some((s) => [].concat(s.urls).some((u) => u.startsWith('turn:')))") is not True:
            raise CheckFailed(f"{browser.name}: no TURN server in the joined frame's iceServers")
    talk_both_ways(first, second, "hello")
    pairs = [check_relay_pair(first, server, second_id), check_relay_pair(second, server, first_id)]
    for browser in browsers:
        errors = browser.js("return demo.errors.map(String)")
        if errors:
            raise CheckFailed(f"{browser.name}: demo.errors {errors}")
    return (f"transport {transport}, pairs {pairs[0]['local']}/{pairs[0]['remote']} via {pairs[0]['url']} "
            f"{pairs[0]['localAddress']} <-> {pairs[0]['remoteAddress']}")


def aiortc_with_chromium(server, browser):
    room = room_name("aiortc")
    peer = AiortcPeer(server.base, room)
    try:
        if not peer.ready.wait(15) or not peer.joined:
            raise CheckFailed(f"aiortc peer did not join: {peer.state()}")
        peer_id = peer.joined["self"]
        browser.open_demo(server.base, room=room, relay="1", transport="websocket", autojoin="1", name="chromium")
        browser.wait("demo.opened >= 1", "the data channel to aiortc")
        wait_until(lambda: peer.channel is not None and peer.channel.readyState == "open", "aiortc's data channel")
        if peer.channel.label != "chat":
            raise CheckFailed(f"data channel label {peer.channel.label!r}, expected 'chat'")
        browser.js("demo.send(arguments[0])", "hello aiortc, this is chromium")
        wait_until(lambda: "hello aiortc, this is chromium" in peer.received, "chromium's message at aiortc")
        peer.send_text("hello chromium, this is aiortc")
        browser.wait("demo.received.includes('hello chromium, this is aiortc')", "aiortc's message in demo.received")
        pair = check_relay_pair(browser, server, peer_id)
        types = peer.pair_types()
        if types != ("relay", "relay"):
            raise CheckFailed(f"aiortc's selected pair is {types}, not relay/relay")
        if peer.offers != 1 or peer.candidates_in < 1 or peer.candidates_out < 1:
            raise CheckFailed(f"unexpected negotiation: {peer.state()}")
        if peer.errors:
            raise CheckFailed(f"aiortc peer errors: {peer.errors}")
        errors = browser.js("return demo.errors.map(String)")
        if errors:
            raise CheckFailed(f"demo.errors {errors}")
        return (f"chromium offered, aiortc answered; candidates {peer.candidates_in} in / {peer.candidates_out} "
                f"out (trickled); chromium pair {pair['local']}/{pair['remote']} via {pair['url']}, "
                f"aiortc pair {types[0]}/{types[1]}")
    except CheckFailed as error:
        raise CheckFailed(f"{error}; aiortc state {peer.state()}")
    finally:
        peer.stop()


# How each transport is dropped without a clean close (which would end the session): a WebSocket close code other
# than 1000/1001, or, for long polling, abandoning the transport while its GET is still waiting at the server.
DROP = {
    "websocket": "demo.sb.transport.ws.close(4999, 'interop drop');",
    "poll": "demo.sb.transport.finish(1006, 'interop drop', true);",
}


def resume_broadcast(server, browsers, transport):
    sender, receiver = browsers
    room = room_name("resume-" + transport)
    sender.open_demo(server.base, room=room, relay="1", transport=transport, autojoin="1", name="sender")
    sender.wait("demo.joined", "the sender to join")
    receiver.open_demo(server.base, room=room, relay="1", transport=transport, autojoin="1", name="receiver")
    receiver_id = receiver.wait("demo.joined && demo.joined.self", "the receiver to join")
    sender.wait(f"demo.peers[{json.dumps(receiver_id)}]", "the sender to see the receiver")
    sender.js("window.__t = {left: []}; demo.sb.on('peer-left', (f) => __t.left.push(f));")
    # Record every raw frame (before the client drops duplicates by seq), every broadcast the application sees, and
    # hold the automatic reconnect until the other page has broadcast, so the drop window is deterministic.
    receiver.js("""
        const sb = demo.sb;
        window.__t = {raw: [], broadcasts: [], welcomes: [], resets: 0, held: false, session: sb.session};
        const receive = sb.receive.bind(sb);
        sb.receive = (f) => { __t.raw.push(f); receive(f); };
        sb.on('broadcast', (f) => __t.broadcasts.push(f.data));
        sb.on('welcome', (f) => __t.welcomes.push(f));
        sb.on('reset', () => { __t.resets += 1; });
        const open = sb.open.bind(sb);
        sb.open = () => { __t.held = true; };
        window.__release = () => { delete sb.open; open(); };""")
    broadcast = "await demo.sb.broadcast(demo.joined.room, {n: arguments[0]}); done(true);"
    sender.js_async(broadcast, 1)
    receiver.wait("__t.broadcasts.length >= 1", "broadcast 1 before the drop")
    receiver.js("__t.lastSeqBeforeDrop = demo.sb.lastSeq; __t.rawBeforeDrop = __t.raw.length;"
                + DROP[transport])
    receiver.wait("__t.held && demo.sb.state === 'reconnecting'", "the client to schedule its reconnect", timeout=5)
    sender.js_async(broadcast, 2)
    sender.js_async(broadcast, 3)
    receiver.js("__release()")
    receiver.wait("demo.sb.state === 'open' && __t.welcomes.length >= 1", "the resumed welcome", timeout=10)
    sender.js_async(broadcast, 4)
    receiver.wait("__t.broadcasts.length >= 4", "broadcasts 2-4 after the resume", timeout=10)
    time.sleep(0.5)  # let a duplicate, if any, arrive
    t = receiver.js("return __t")
    problems = []
    numbers = [b.get("n") if isinstance(b, dict) else b for b in t["broadcasts"]]
    if numbers != [1, 2, 3, 4]:
        problems.append(f"application saw broadcasts {numbers}, expected [1, 2, 3, 4]")
    welcome = t["welcomes"][0]
    if welcome.get("resumed") is not True or welcome.get("session") != t["session"]:
        problems.append(f"welcome after the drop is not a resume of session {t['session']}: {welcome}")
    if t["resets"]:
        problems.append("the client reported a lost session (reset)")
    after = t["raw"][t["rawBeforeDrop"]:]
    seqs = [f["seq"] for f in after if f.get("type") != "welcome"]
    if seqs and (seqs[0] != t["lastSeqBeforeDrop"] + 1 or seqs != list(range(seqs[0], seqs[0] + len(seqs)))):
        problems.append(f"frames after the resume have seq {seqs}, expected {t['lastSeqBeforeDrop'] + 1}, +1, …")
    raw_broadcasts = [f["data"]["n"] for f in t["raw"] if f.get("type") == "broadcast"]
    if raw_broadcasts != [1, 2, 3, 4]:
        problems.append(f"server delivered broadcasts {raw_broadcasts} (raw frames), expected each once")
    left = sender.js("return __t.left")
    if left:
        problems.append(f"the sender saw peer-left during the drop: {left}")
    if receiver.js("return demo.sb.transportKind") != transport:
        problems.append(f"the resumed transport is not {transport}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return (f"{transport}: resumed session {t['session'][:8]}… after the drop; broadcasts {numbers} each once; "
            f"replayed seq {seqs[:3]}…")


# ---------------------------------------------------------------- main

def admin(server, method, path):
    import urllib.request
    request = urllib.request.Request(f"http://127.0.0.1:{server.admin_port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def admin_kick(server, browsers):
    """Two relay-only pages talk; the operator kicks the second: its WebSocket closes with 4011, the first page hears
    `peer-left` (kicked), the second's allocations are gone from the admin API, and nothing crosses the relay any
    more."""
    first, second = browsers
    room = room_name("kick")
    first.open_demo(server.base, room=room, relay="1", transport="websocket", autojoin="1", name="first")
    first.wait("demo.joined && demo.joined.self", "the first page to join")
    second.open_demo(server.base, room=room, relay="1", transport="websocket", autojoin="1", name="second")
    second_id = second.wait("demo.joined && demo.joined.self", "the second page to join")
    talk_both_ways(first, second, "before the kick")
    listed = [a for a in admin(server, "GET", "/admin/allocations")["allocations"] if a.get("session") == second_id]
    if not listed:
        raise CheckFailed(f"no allocation bound to the second page's session {second_id} before the kick")
    kicked = admin(server, "POST", f"/admin/peers/{second_id}/kick")
    if kicked.get("closeCode") != 4011 or kicked.get("allocationsClosed") != len(listed):
        raise CheckFailed(f"kick answered {kicked}, expected close 4011 and {len(listed)} allocations closed")
    second.wait("demo.sb.state === 'closed'", "the kicked page's signaling to close for good")
    left = [a for a in admin(server, "GET", "/admin/allocations")["allocations"] if a.get("session") == second_id]
    if left:
        raise CheckFailed(f"allocations of the kicked session remain: {left}")
    first.js("demo.send(arguments[0])", "after the kick")
    time.sleep(4)
    if second.js("return demo.received.includes('after the kick')"):
        raise CheckFailed("a message crossed the relay to the kicked page after the kick")
    return f"kicked {second_id}: close 4011, {len(listed)} allocation(s) closed, data channel silent afterwards"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary", nargs="?", default=os.environ.get("SWITCHBOARD"))
    parser.add_argument("--timeout", type=float, default=150, help="watchdog for the whole run, in seconds")
    parser.add_argument("--only", action="append", help="run only these checks (repeatable)")
    arguments = parser.parse_args()
    binary = arguments.binary or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "debug",
                                              "switchboard")
    if not os.access(binary, os.X_OK):
        print(f"FAIL  no switchboard binary at {binary}")
        sys.exit(2)

    started = time.monotonic()
    server = None
    browsers = []

    def cleanup():
        for browser in browsers:
            browser.quit()
        if server is not None:
            server.stop()

    def watchdog():
        print(f"FAIL  watchdog: the run took more than {arguments.timeout:.0f}s", flush=True)
        for browser in browsers:
            if browser.service.process is not None:
                kill_tree(browser.service.process.pid)
        if server is not None:
            server.process.kill()
        os._exit(1)

    timer = threading.Timer(arguments.timeout, watchdog)
    timer.daemon = True
    timer.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    failures = 0
    try:
        server = Server(binary)
        print(f"switchboard: stun/turn 127.0.0.1:{server.stun_port}, http {server.base}", flush=True)
        browsers.extend(Browser(name, server.spki) for name in ("chromium-1", "chromium-2"))
        checks = [
            ("browser-websocket-relay", lambda: two_pages(server, browsers, "websocket")),
            ("browser-poll-relay", lambda: two_pages(server, browsers, "poll")),
            ("browser-aiortc-relay", lambda: aiortc_with_chromium(server, browsers[0])),
            ("browser-resume-broadcast", lambda: resume_broadcast(server, browsers, "websocket")),
            ("browser-resume-broadcast-poll", lambda: resume_broadcast(server, browsers, "poll")),
            ("browser-turns-relay", lambda: turns_relay(server, browsers, server.base, server.tls_port)),
            ("browser-turns-mux-relay", lambda: turns_relay(server, browsers, server.mux_base, server.mux_port)),
            ("browser-admin-kick", lambda: admin_kick(server, browsers)),
        ]
        for name, run in checks:
            if arguments.only and name not in arguments.only:
                continue
            check_started = time.monotonic()
            try:
                detail = run()
                print(f"PASS  {name} ({time.monotonic() - check_started:.1f}s): {detail}", flush=True)
            except Exception as error:
                failures += 1
                print(f"FAIL  {name} ({time.monotonic() - check_started:.1f}s): {error}", flush=True)
                for browser in browsers:
                    print(f"      {browser.name} demo: {json.dumps(browser.state())}")
                    for line in browser.console():
                        print(f"      {browser.name} console: {line}")
            finally:
                # Leave the page so its peer connections and signaling session end before the next check.
                for browser in browsers:
                    try:
                        browser.driver.get("about:blank")
                    except Exception:
                        pass
    except Exception as error:
        failures += 1
        print(f"FAIL  setup: {error!r}", flush=True)
    finally:
        if failures and server is not None:
            print("server stderr:\n" + server.errors())
        cleanup()
        timer.cancel()
    print(f"browser checks done in {time.monotonic() - started:.1f}s, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
