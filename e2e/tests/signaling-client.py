#!/usr/bin/env python3
"""A Nextcloud's request to Talk's signaling server, as Talk's BackendNotifier sends it: a room
message POSTed to /api/v1/room/<token> with the headers the server checks (strukturag
nextcloud-spreed-signaling `api_backend.go`: Spreed-Signaling-Random, Spreed-Signaling-Checksum =
hex(HMAC-SHA256(secret, random + body)), Spreed-Signaling-Backend = the Nextcloud's URL; checked
in `backend_server.go` against the secret of the backend entry of that URL).

usage: signaling-client.py SERVER BACKEND_URL SECRET   prints the HTTP status (200, 403, ...)
"""

import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request


def main():
    server, backend, secret = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    body = json.dumps({"type": "message", "message": {"data": {"type": "chat", "chat": {"refresh": True}}}}).encode()
    random = os.urandom(32).hex()
    checksum = hmac.new(secret, random.encode() + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{server}/api/v1/room/e2etoken", data=body, method="POST",
        headers={"Content-Type": "application/json", "Spreed-Signaling-Random": random,
                 "Spreed-Signaling-Checksum": checksum, "Spreed-Signaling-Backend": backend})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
