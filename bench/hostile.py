#!/usr/bin/env python3
"""Hostile-client load for bench/hostile.sh (loopback only, bounded in time and count).

  hostile.py hold  PORT SLOW IDLE SECONDS   open SLOW slowloris and IDLE idle keep-alive
                                            connections and keep them up for SECONDS
  hostile.py probe PORT SECONDS BODY        a second client: /live and /predict in turn on
                                            one keep-alive connection; prints the figures

Slowloris connections send one header line a second and never finish; when the server
closes one, it is opened again (as the attack does). Idle connections finish one request,
then say nothing. Only the standard library; a single thread drives every socket.
"""
import json
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"


def hold(port, slow, idle, seconds):
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + seconds
    stats = {"slow_opened": 0, "slow_closed_by_server": 0, "idle_opened": 0, "idle_closed_by_server": 0,
             "connect_errors": 0}

    def connect(kind):
        try:
            s = socket.create_connection((HOST, port), timeout=2)
        except OSError:
            stats["connect_errors"] += 1
            return
        s.setblocking(False)
        if kind == "slow":
            s.send(b"GET /live HTTP/1.1\r\nHost: x\r\n")
            stats["slow_opened"] += 1
        else:
            s.send(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
            stats["idle_opened"] += 1
        sel.register(s, selectors.EVENT_READ, kind)

    for _ in range(idle):
        connect("idle")
    for _ in range(slow):
        connect("slow")
    print(json.dumps({"holding": stats}), flush=True)
    next_tick = time.monotonic() + 1
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:  # the server closed it
                sel.unregister(s)
                s.close()
                stats[key.data + "_closed_by_server"] += 1
                if key.data == "slow":
                    connect("slow")
        if time.monotonic() >= next_tick:  # one more header line on every slow connection
            next_tick += 1
            for key in list(sel.get_map().values()):
                if key.data == "slow":
                    try:
                        key.fileobj.send(b"X-Slow: 1\r\n")
                    except OSError:
                        pass
    print(json.dumps({"held": stats}), flush=True)
    for key in list(sel.get_map().values()):
        key.fileobj.close()


def read_response(sock, buf):
    """Reads one HTTP/1.1 response with a Content-Length; returns (status, rest of buffer)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return status, buf[length:]


def probe(port, seconds, body):
    requests = {
        "/live": b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n",
        "/predict": (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body.encode())),
    }
    latencies = {path: [] for path in requests}
    failures = {path: 0 for path in requests}
    sock, buf = None, b""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        path = "/live" if i % 2 == 0 else "/predict"
        i += 1
        start = time.monotonic()
        try:
            if sock is None:
                sock = socket.create_connection((HOST, port), timeout=5)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = b""
            sock.sendall(requests[path])
            status, buf = read_response(sock, buf)
            ok = status == 200
        except OSError:
            ok = False
            if sock:
                sock.close()
            sock = None
        elapsed = time.monotonic() - start
        latencies[path].append(elapsed)
        if not ok:
            failures[path] += 1
        time.sleep(0.002)
    if sock:
        sock.close()
    out = {}
    for path, values in latencies.items():
        values.sort()
        n = len(values)
        out[path] = {"requests": n, "success_pct": round(100 * (n - failures[path]) / max(n, 1), 3),
                     "p50_ms": round(1000 * values[n // 2], 3) if n else None,
                     "p99_ms": round(1000 * values[min(n - 1, int(n * 0.99))], 3) if n else None,
                     "max_ms": round(1000 * values[-1], 3) if n else None}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "hold":
        hold(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "probe":
        probe(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
