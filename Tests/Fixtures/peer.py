#!/usr/bin/env python3
"""Misbehaving and scripted peers for friday's tests, on 127.0.0.1 or a Unix socket.

  peer.py MODE ADDRESS [ARG]
  MODE: trickle   - answers one byte a second, for ever
        silent    - accepts and never answers
        huge      - answers 200 MB as fast as it can
        prometheus FILE - answers /api/v1/query with the value FILE maps the query to
                          (FILE: JSON {"substring of the query": number, ...})
        haproxy FILE    - a runtime API: `show stat` answers FILE's CSV as is;
                          `get weight B/S` answers "N (initial N)" from FILE.weights
        webhook FILE    - an HTTP receiver: appends each POST body as a line to FILE and
                          answers the statuses in FILE.statuses (comma-separated) in
                          turn, then 200; a status of 0 means never answer
Prints "ready" once listening. Stops after 120 s whatever happens.
"""
import json, os, signal, socket, sys, threading, time, urllib.parse

signal.signal(signal.SIGTERM, signal.SIG_DFL)  # an ignored or blocked SIGTERM survives exec: put the default back
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

mode, address = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
if address.startswith("/"):
    if os.path.exists(address): os.unlink(address)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srv.bind(address)
else:
    host, port = address.rsplit(":", 1)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind((host, int(port)))
srv.listen(64)
threading.Timer(120, lambda: os._exit(0)).start()
print("ready", flush=True)

def read_request(c):
    data = b""
    while b"\n" not in data:
        chunk = c.recv(65536)
        if not chunk: break
        data += chunk
    return data

lock = threading.Lock()
def read_http(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk: return data, b""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for h in head.split(b"\r\n")[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length": length = int(v.strip())
    while len(body) < length:
        chunk = c.recv(65536)
        if not chunk: break
        body += chunk
    return head, body

def serve(c):
    try:
        if mode == "webhook":
            head, body = read_http(c)
            with lock:
                with open(arg, "ab") as f: f.write(body.replace(b"\n", b" ") + b"\n")
                try: statuses = [int(x) for x in open(arg + ".statuses").read().split(",") if x.strip()]
                except OSError: statuses = []
                status = statuses.pop(0) if statuses else 200
                with open(arg + ".statuses", "w") as f: f.write(",".join(str(x) for x in statuses))
            if status == 0: time.sleep(120); return
            c.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            return
        req = read_request(c)
        if mode == "trickle":
            for b in b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 100000:
                c.sendall(bytes([b])); time.sleep(1)
        elif mode == "silent":
            time.sleep(120)
        elif mode == "huge":
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
            block = b"x" * 1048576
            for _ in range(200): c.sendall(block)
        elif mode == "prometheus":
            line = req.split(b"\r\n")[0].decode()
            q = urllib.parse.unquote(line.split(" ")[1].split("query=", 1)[1])
            table = json.load(open(arg))
            value = next((v for k, v in table.items() if k in q), None)
            if value is None:
                body = {"status": "success", "data": {"resultType": "vector", "result": []}}
            else:
                body = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [time.time(), str(value)]}]}}
            b = json.dumps(body).encode()
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b)
        elif mode == "haproxy":
            cmd = req.decode().strip()
            if cmd == "show stat":
                c.sendall(open(arg).read().encode())
            elif cmd.startswith("get weight "):
                w = json.load(open(arg + ".weights")).get(cmd.split(" ")[2], 0)
                c.sendall(f"{w} (initial {w})\n".encode())
            else:
                c.sendall(b"\n")
    except OSError:
        pass
    finally:
        try: c.close()
        except OSError: pass

while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
