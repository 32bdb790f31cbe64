#!/usr/bin/env python3
"""A stand-in for a woken space's web server (no Nextcloud runs here): answers every request on
127.0.0.1:PORT with 200 and a line naming its method, path, Host and the time it arrived (Unix
nanoseconds), after reading its body, whose length it reports."""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])


class StandIn(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else b""
        text = f"served {self.command} {self.path} for {self.headers.get('Host')} at {time.time_ns()} ({len(body)} bytes)\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.answer
        raise AttributeError(name)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), StandIn).serve_forever()
