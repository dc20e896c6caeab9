#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_h2.c into tests/fuzz/corpus/h2: small server byte
streams (a chunk-seed byte, then frames) that are valid HTTP/2, so the fuzzer starts from frames
and header blocks lib/h2 really parses. Run from the repository root; output is deterministic."""

import os
import struct

OUT = os.path.join("tests", "fuzz", "corpus", "h2")


def frame(ftype, flags, stream, payload=b""):
    n = len(payload)
    return bytes([n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF, ftype, flags]) + struct.pack(
        ">I", stream) + payload


def settings(*pairs):
    return frame(4, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def lit(name_idx, value):
    """Literal without indexing, indexed name (index < 15), plain value."""
    return bytes([name_idx, len(value)]) + value


SEEDS = {
    # SETTINGS, ACK, :status 200 + content-type, padded DATA, DATA with END_STREAM
    "get-padded-data": b"\x07" + settings((3, 100), (4, 65535)) + frame(4, 1, 0)
    + frame(1, 4, 1, b"\x88" + b"\x0f\x10" + bytes([16]) + b"application/json")
    + frame(0, 8, 1, b"\x03hello\x00\x00\x00") + frame(0, 1, 1, b" world"),
    # 103 with PADDED|PRIORITY, then 429 split over HEADERS + CONTINUATION with a Huffman
    # retry-after ("15" is 0x0b 0x7f), trailers
    "interim-continuation": b"\x2a" + settings()
    + frame(1, 0x2C, 3, b"\x02\x00\x00\x00\x00\x10" + lit(8, b"103") + b"\x00\x00")
    + frame(1, 0, 3, lit(8, b"429")) + frame(9, 4, 3, b"\x0f\x26\x82\x0b\x7f")
    + frame(0, 0, 3, b"{}") + frame(1, 5, 3, b"\x00\x01x\x01y"),
    # RFC 7541 C.6-like responses with incremental indexing and dynamic-table references, a
    # table size update first
    "hpack-dynamic": b"\x11" + settings()
    + frame(1, 5, 1, b"\x3f\xe1\x1f" + b"\x48\x03302" + b"\x58\x07private"
            + b"\x61\x1dMon, 21 Oct 2013 20:13:21 GMT" + b"\x6e\x17https://www.example.com")
    + frame(1, 5, 3, b"\x48\x03307\xc1\xc0\xbf")
    + frame(1, 5, 5, b"\x88\xc1\x61\x1dMon, 21 Oct 2013 20:13:22 GMT\xc0"),
    # control frames: PING, WINDOW_UPDATE, RST_STREAM, PRIORITY, an unknown type, GOAWAY
    "control": b"\x03" + settings((5, 16384)) + frame(6, 0, 0, b"tk-ping!")
    + frame(6, 1, 0, b"tkping\x00\x00") + frame(8, 0, 0, b"\x00\x01\x00\x00")
    + frame(8, 0, 1, b"\x00\x00\x10\x00") + frame(3, 0, 1, b"\x00\x00\x00\x07")
    + frame(2, 0, 3, b"\x00\x00\x00\x01\x10") + frame(0x42, 0xFF, 7, b"xyz")
    + frame(7, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00debug"),
    # a watch: headers, then many small DATA frames, some only padding, an empty last one
    "watch-stream": b"\x55" + settings() + frame(1, 4, 1, b"\x88")
    + b"".join(frame(0, 0, 1, b'{"type":"ADDED"}\n') for _ in range(4))
    + frame(0, 8, 1, b"\x04\x00\x00\x00\x00") + frame(0, 9, 1, b"\x00!") + frame(0, 1, 1),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
