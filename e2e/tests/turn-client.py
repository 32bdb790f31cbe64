#!/usr/bin/env python3
"""A TURN client for the e2e suite: asks a real coturn for an allocation with the credentials
Nextcloud Talk would give a browser, computed from a secret the way Talk computes them
(spreed lib/Config.php getTurnSettings: username "<expiry>:<random>", expiry = now + 24 h;
password = base64(HMAC-SHA1(secret, username))), and, once allocated, asks for a permission
to a peer (CreatePermission), which coturn must refuse for a private address.

The messages are RFC 8489 (STUN) and RFC 8656 (TURN): a first Allocate without credentials,
answered 401 with the realm and a nonce; the second with USERNAME, REALM, NONCE and a
MESSAGE-INTEGRITY keyed with MD5(username:realm:password) (RFC 8489 §9.2.2, long-term
credentials).

usage: turn-client.py HOST PORT SECRET [--expired] [--peer IP]
prints "allocated <relayed ip:port>" and exits 0, or "refused <code> <reason>" and exits 1;
with --peer, then prints "permission <ip> granted" or "permission <ip> refused <code> <reason>".
"""

import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

MAGIC = 0x2112A442
ALLOCATE, CREATE_PERMISSION = 0x0003, 0x0008
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM, NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
REQUESTED_TRANSPORT, XOR_RELAYED_ADDRESS, XOR_PEER_ADDRESS = 0x0019, 0x0016, 0x0012


def attribute(kind, value):
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def message(kind, attributes, key=None):
    tid = os.urandom(12)
    body = b"".join(attribute(k, v) for k, v in attributes)
    if key is not None:
        # The length covers MESSAGE-INTEGRITY (24 bytes) when the HMAC is computed.
        header = struct.pack("!HHI", kind, len(body) + 24, MAGIC) + tid
        mac = hmac.new(key, header + body, hashlib.sha1).digest()
        body += attribute(MESSAGE_INTEGRITY, mac)
    return struct.pack("!HHI", kind, len(body), MAGIC) + tid + body, tid


def parse(data):
    kind, length, _ = struct.unpack("!HHI", data[:8])
    attrs, i = {}, 20
    while i < 20 + length:
        k, n = struct.unpack("!HH", data[i:i + 4])
        attrs.setdefault(k, data[i + 4:i + 4 + n])
        i += 4 + n + (-n % 4)
    return kind, data[8:20], attrs


def xor_address(value):
    port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC >> 16)
    ip = struct.unpack("!I", value[4:8])[0] ^ MAGIC
    return f"{socket.inet_ntoa(struct.pack('!I', ip))}:{port}"


def error(attrs):
    e = attrs.get(ERROR_CODE, b"\0\0\0\0")
    return e[2] * 100 + e[3], e[4:].decode(errors="replace")


def ask(sock, server, packet, tid):
    sock.sendto(packet, server)
    while True:
        data, _ = sock.recvfrom(2048)
        kind, got, attrs = parse(data)
        if got == tid:
            return kind, attrs


def main():
    host, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    expired = "--expired" in sys.argv
    peer = sys.argv[sys.argv.index("--peer") + 1] if "--peer" in sys.argv else None
    expiry = int(time.time()) + (-60 if expired else 86400)
    username = f"{expiry}:{base64.b64encode(os.urandom(12)).decode()}"
    password = base64.b64encode(hmac.new(secret, username.encode(), hashlib.sha1).digest()).decode()
    server = (host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    udp = (17).to_bytes(1, "big") + b"\0\0\0"
    packet, tid = message(ALLOCATE, [(REQUESTED_TRANSPORT, udp)])
    kind, attrs = ask(sock, server, packet, tid)
    if kind != 0x0113 or error(attrs)[0] != 401:
        print(f"unexpected first answer {kind:#06x} {error(attrs)}")
        return 2
    realm, nonce = attrs[REALM], attrs[NONCE]
    key = hashlib.md5(username.encode() + b":" + realm + b":" + password.encode()).digest()
    auth = [(USERNAME, username.encode()), (REALM, realm), (NONCE, nonce)]
    packet, tid = message(ALLOCATE, [(REQUESTED_TRANSPORT, udp)] + auth, key)
    kind, attrs = ask(sock, server, packet, tid)
    if kind != 0x0103:
        print("refused %d %s" % error(attrs))
        return 1
    print(f"allocated {xor_address(attrs[XOR_RELAYED_ADDRESS])}")
    if peer:
        xpeer = struct.pack("!BBH", 0, 1, 0 ^ (MAGIC >> 16)) + struct.pack("!I", struct.unpack("!I", socket.inet_aton(peer))[0] ^ MAGIC)
        packet, tid = message(CREATE_PERMISSION, [(XOR_PEER_ADDRESS, xpeer)] + auth, key)
        kind, attrs = ask(sock, server, packet, tid)
        print(f"permission {peer} granted" if kind == 0x0108 else f"permission {peer} refused %d %s" % error(attrs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
