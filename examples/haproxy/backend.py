#!/usr/bin/env python3
"""A small HTTP service standing in for one version of an app.

Answers every GET with 200 (or 500 with the probability read from --error-rate-file on
each request, so a running version can be made to fail), after --latency-ms.
Listens on 127.0.0.1 only.
"""
import argparse
import http.server
import os
import random
import signal
import time

# A parent may start us with SIGTERM ignored or blocked (both survive exec): put the
# default back, so `stack.sh stop` really stops us.
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--error-rate-file", default="")
    p.add_argument("--latency-ms", type=float, default=5)
    a = p.parse_args()

    def error_rate():
        if not a.error_rate_file:
            return 0.0
        try:
            with open(a.error_rate_file) as f:
                return float(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(a.latency_ms / 1000)
            fail = random.random() < error_rate()
            body = (f"{a.version} {'error' if fail else 'ok'}\n").encode()
            self.send_response(500 if fail else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Version", a.version)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 512
        daemon_threads = True

    Handler.disable_nagle_algorithm = True
    Server(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
