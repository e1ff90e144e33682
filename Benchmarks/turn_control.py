"""TURN control plane for the benchmarks: real TURN over UDP (RFC 8656 / RFC 8489), stdlib only.

For each client socket: Allocate -> 401 (REALM, NONCE) -> Allocate with USERNAME, REALM, NONCE,
REQUESTED-TRANSPORT (UDP), MESSAGE-INTEGRITY (HMAC-SHA1, key MD5(user:realm:password)) and FINGERPRINT,
then optionally ChannelBind to a peer address (which also installs the permission).

Many sessions run at once over non-blocking sockets with epoll, a bounded number of transactions in flight,
and retransmission on loss (RFC 8489 style: same transaction ID, doubling timeout).
Written for these benchmarks; it does only what they need.
"""
import hashlib
import hmac
import os
import select
import socket
import struct
import time
import zlib

MAGIC = 0x2112A442
ALLOCATE, CHANNEL_BIND = 0x003, 0x009
REQUEST, SUCCESS, ERROR = 0x0000, 0x0100, 0x0110

A_USERNAME, A_MESSAGE_INTEGRITY, A_ERROR_CODE = 0x0006, 0x0008, 0x0009
A_CHANNEL_NUMBER, A_LIFETIME, A_XOR_PEER_ADDRESS = 0x000C, 0x000D, 0x0012
A_XOR_RELAYED_ADDRESS, A_REQUESTED_TRANSPORT = 0x0016, 0x0019
A_REALM, A_NONCE, A_FINGERPRINT = 0x0014, 0x0015, 0x8028


def attr(kind, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * pad


def xor_address(ip, port):
    packed = socket.inet_aton(ip)
    x = struct.unpack("!I", packed)[0] ^ MAGIC
    return struct.pack("!BBHI", 0, 0x01, port ^ (MAGIC >> 16), x)


def parse_xor_address(value):
    family, xport = struct.unpack("!xBH", value[:4])
    if family != 0x01:
        raise ValueError("only IPv4 is used here")
    ip = struct.unpack("!I", value[4:8])[0] ^ MAGIC
    return socket.inet_ntoa(struct.pack("!I", ip)), xport ^ (MAGIC >> 16)


def long_term_key(user, realm, password):
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).digest()


def build(method, tid, attrs, key=None):
    """A request with `attrs`, then MESSAGE-INTEGRITY (when key) and FINGERPRINT."""
    body = b"".join(attrs)
    mtype = method | REQUEST
    if key is not None:
        # The length covers MESSAGE-INTEGRITY itself (RFC 8489 §14.5) but not the FINGERPRINT after it.
        head = struct.pack("!HHI", mtype, len(body) + 24, MAGIC) + tid
        mac = hmac.new(key, head + body, hashlib.sha1).digest()
        body += attr(A_MESSAGE_INTEGRITY, mac)
    head = struct.pack("!HHI", mtype, len(body) + 8, MAGIC) + tid
    crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
    return head + body + attr(A_FINGERPRINT, struct.pack("!I", crc))


def parse(data):
    """(type, transaction id, {attribute type: first value}) or None if this is not a STUN message."""
    if len(data) < 20:
        return None
    mtype, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC or mtype & 0xC000 or 20 + length > len(data):
        return None
    attrs, pos = {}, 20
    while pos + 4 <= 20 + length:
        kind, alen = struct.unpack("!HH", data[pos:pos + 4])
        attrs.setdefault(kind, data[pos + 4:pos + 4 + alen])
        pos += 4 + alen + (4 - alen % 4) % 4
    return mtype, data[8:20], attrs


def error_code(attrs):
    v = attrs.get(A_ERROR_CODE)
    if not v or len(v) < 4:
        return None, ""
    return (v[2] & 0x7) * 100 + v[3], v[4:].decode(errors="replace")


class Session:
    """One client socket and where it is in Allocate -> (auth) Allocate -> ChannelBind."""

    __slots__ = ("sock", "peer", "channel", "stage", "tid", "msg", "sent_at", "tries", "rto", "realm", "nonce",
                 "relayed", "error", "done", "challenges")

    def __init__(self, sock, peer=None, channel=0x4000):
        self.sock, self.peer, self.channel = sock, peer, channel
        self.stage, self.tid, self.msg = "probe", None, None
        self.sent_at, self.tries, self.rto = 0.0, 0, 0.5
        self.realm = self.nonce = self.relayed = self.error = None
        self.done = False
        self.challenges = 0


class Controller:
    """Sets up allocations (and channel bindings) on many sockets at once against one TURN server."""

    def __init__(self, server, user, password, max_in_flight=256, max_tries=7):
        self.server, self.user, self.password = server, user, password
        self.max_in_flight, self.max_tries = max_in_flight, max_tries
        self.key_cache = {}
        self.stats = {"requests": 0, "retransmits": 0, "401": 0, "438": 0}

    def key(self, realm):
        if realm not in self.key_cache:
            self.key_cache[realm] = long_term_key(self.user, realm, self.password)
        return self.key_cache[realm]

    def _request(self, s):
        s.tid = os.urandom(12)
        if s.stage == "probe":
            s.msg = build(ALLOCATE, s.tid, [attr(A_REQUESTED_TRANSPORT, b"\x11\0\0\0")])
        else:
            auth = [attr(A_USERNAME, self.user.encode()), attr(A_REALM, s.realm), attr(A_NONCE, s.nonce)]
            if s.stage == "allocate":
                s.msg = build(ALLOCATE, s.tid, [attr(A_REQUESTED_TRANSPORT, b"\x11\0\0\0")] + auth,
                              self.key(s.realm.decode()))
            else:
                s.msg = build(CHANNEL_BIND, s.tid, [attr(A_CHANNEL_NUMBER, struct.pack("!HH", s.channel, 0)),
                                                    attr(A_XOR_PEER_ADDRESS, xor_address(*s.peer))] + auth,
                              self.key(s.realm.decode()))
        s.tries, s.rto = 0, 0.5
        self._send(s)

    def _send(self, s):
        s.tries += 1
        s.sent_at = time.monotonic()
        self.stats["requests"] += 1
        if s.tries > 1:
            self.stats["retransmits"] += 1
        try:
            s.sock.send(s.msg)
        except (BlockingIOError, ConnectionRefusedError):
            pass  # counts as a loss; the retransmit timer covers it

    def _answer(self, s, data):
        m = parse(data)
        if m is None or m[1] != s.tid:
            return False  # stray or late answer to an older transaction
        mtype, _, attrs = m
        method = mtype & 0x3EEF
        klass = mtype & 0x0110
        if klass == ERROR:
            code, reason = error_code(attrs)
            if code in (401, 438) and A_NONCE in attrs and s.challenges < 4:
                self.stats[str(code)] += 1
                s.challenges += 1
                s.realm, s.nonce = attrs.get(A_REALM, s.realm), attrs[A_NONCE]
                if s.stage == "probe":
                    s.stage = "allocate"
                self._request(s)
                return False
            s.error = f"{'Allocate' if method == ALLOCATE else 'ChannelBind'} error {code} {reason}"
            return True
        if klass != SUCCESS:
            return False
        if s.stage in ("probe", "allocate") and method == ALLOCATE:
            if A_XOR_RELAYED_ADDRESS not in attrs:
                s.error = "Allocate success without XOR-RELAYED-ADDRESS"
                return True
            s.relayed = parse_xor_address(attrs[A_XOR_RELAYED_ADDRESS])
            if s.peer is None:
                return True
            s.stage = "bind"
            self._request(s)
            return False
        if s.stage == "bind" and method == CHANNEL_BIND:
            return True
        return False

    def run(self, sessions, timeout=120.0):
        """Drives every session to success or failure. Returns (succeeded, failed) lists."""
        ep = select.epoll()
        by_fd = {s.sock.fileno(): s for s in sessions}
        pending = list(reversed(sessions))
        active = set()
        ok, failed = [], []
        deadline = time.monotonic() + timeout
        try:
            while pending or active:
                while pending and len(active) < self.max_in_flight:
                    s = pending.pop()
                    ep.register(s.sock.fileno(), select.EPOLLIN)
                    active.add(s)
                    self._request(s)
                now = time.monotonic()
                if now > deadline:
                    for s in list(active) + pending:
                        s.error = s.error or f"gave up after {timeout:.0f} s"
                        failed.append(s)
                    break
                wait = min([s.sent_at + s.rto for s in active], default=now + 0.05) - now
                for fd, _ in ep.poll(max(0.0, min(wait, 0.05))):
                    s = by_fd[fd]
                    finished = False
                    while not finished:
                        try:
                            data = s.sock.recv(4096)
                        except (BlockingIOError, InterruptedError):
                            break
                        except ConnectionRefusedError:
                            continue
                        finished = self._answer(s, data)
                    if finished:
                        ep.unregister(fd)
                        active.discard(s)
                        s.done = True
                        (failed if s.error else ok).append(s)
                now = time.monotonic()
                for s in [s for s in active if now - s.sent_at > s.rto]:
                    if s.tries >= self.max_tries:
                        s.error = f"no answer in stage {s.stage} after {s.tries} tries"
                        ep.unregister(s.sock.fileno())
                        active.discard(s)
                        failed.append(s)
                    else:
                        s.rto = min(s.rto * 2, 4.0)
                        self._send(s)
        finally:
            ep.close()
        return ok, failed


def client_socket(server, local_ip="127.0.0.2"):
    """A UDP socket connected to the server. Bound on 127.0.0.2 so that thousands of client ports never take
    a port in the relay range on 127.0.0.1 (both servers relay from 127.0.0.1:50000-60999)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local_ip, 0))
    s.connect(server)
    s.setblocking(False)
    return s


def peer_socket(local_ip="127.0.0.3"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local_ip, 0))
    return s
