#!/usr/bin/env python3
"""Writes a seed corpus for the STUNFuzz target: the RFC 5769 vectors, Binding requests with each RFC 5780
attribute, TURN requests, ChannelData frames, RFC 3489 requests. Usage: Fuzz/make-seeds.py DIR"""
import os, struct, sys, zlib

COOKIE = 0x2112A442
TID = bytes(range(1, 13))


def attr(kind, value):
    pad = (-len(value)) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\x00" * pad


def message(mtype, attrs=b"", cookie=COOKIE, fingerprint=True):
    body = attrs
    if fingerprint:
        head = struct.pack("!HHI", mtype, len(body) + 8, cookie) + TID
        crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += attr(0x8028, struct.pack("!I", crc))
    return struct.pack("!HHI", mtype, len(body), cookie) + TID + body


def xor_v4(port, ip):
    return struct.pack("!BBH", 0, 1, port ^ (COOKIE >> 16)) + struct.pack("!I", ip ^ COOKIE)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Fuzz/corpus"
    os.makedirs(out, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    regressions = os.path.join(here, "..", "Tests", "STUNTests", "FuzzRegressions")
    seeds = {}
    for name in sorted(os.listdir(regressions)):
        with open(os.path.join(regressions, name), "rb") as f:
            seeds["regression-" + name] = f.read()
    seeds["binding"] = message(0x0001)
    seeds["binding-classic"] = message(0x0001, attr(0x0003, struct.pack("!I", 6)), cookie=0x01020304, fingerprint=False)
    seeds["binding-change"] = message(0x0001, attr(0x0003, struct.pack("!I", 6)))
    seeds["binding-response-port"] = message(0x0001, attr(0x0027, struct.pack("!HH", 40000, 0)))
    seeds["binding-padding"] = message(0x0001, attr(0x0026, b"\x00" * 64))
    seeds["binding-unknown-required"] = message(0x0001, attr(0x0031, b"abcd"))
    seeds["binding-software"] = message(0x0001, attr(0x8022, b"seed"))
    seeds["allocate"] = message(0x0003, attr(0x0019, b"\x11\x00\x00\x00") + attr(0x000D, struct.pack("!I", 600)))
    seeds["allocate-auth"] = message(0x0003, attr(0x0019, b"\x11\x00\x00\x00") + attr(0x0006, b"alice")
                                     + attr(0x0014, b"switchboard") + attr(0x0015, b"obMatJos2wAAA0")
                                     + attr(0x001D, b"\x00\x02\x00\x00") + attr(0x0008, b"\x00" * 20))
    seeds["create-permission"] = message(0x0008, attr(0x0012, xor_v4(5000, 0x7F000001)))
    seeds["channel-bind"] = message(0x0009, attr(0x000C, b"\x40\x00\x00\x00") + attr(0x0012, xor_v4(5000, 0x7F000001)))
    seeds["send-indication"] = message(0x0016, attr(0x0012, xor_v4(5000, 0x7F000001)) + attr(0x0013, b"hello"))
    seeds["channel-data"] = struct.pack("!HH", 0x4000, 5) + b"hello\x00\x00\x00"
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


main()
