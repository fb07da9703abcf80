#!/usr/bin/env python3
"""A bounded load generator: --rate requests per second to --url for --seconds, then stops.
Only 127.0.0.1 targets are allowed."""
import argparse
import http.client
import threading
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--workers", type=int, default=8)
    a = p.parse_args()
    u = urllib.parse.urlparse(a.url)
    if u.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("load.py only sends to 127.0.0.1")
    end = time.monotonic() + min(a.seconds, 3600)
    per_worker = a.rate / a.workers
    counts = {"ok": 0, "err": 0, "fail": 0}
    lock = threading.Lock()

    def worker():
        conn = None
        next_at = time.monotonic()
        while time.monotonic() < end:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
                conn.request("GET", u.path or "/")
                r = conn.getresponse()
                r.read()
                with lock:
                    counts["ok" if r.status < 500 else "err"] += 1
            except Exception:
                conn = None
                with lock:
                    counts["fail"] += 1
            next_at += 1 / per_worker
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"load: {counts['ok']} ok, {counts['err']} 5xx, {counts['fail']} failed")


if __name__ == "__main__":
    main()
