"""https_server.py - a small HTTPS server for MTA-STS policies in tests.

    from https_server import https_server
    with https_server(cert, key, {"mta-sts.good.checktest": b"..."}) as port:
        ... smtpsctl check --mta-sts-port PORT --ca-file CA ...

Python's http.server and ssl on 127.0.0.1 at a free port, in a thread.
Each request is answered by the Host header (port removed): bytes are
sent as text/plain with status 200; BIG streams 10 MB of policy-looking
lines (in 64 KiB writes, and stops when the client goes away); a tuple
(status, content_type, body) is sent as given; an unknown host gets 404.
The certificate must name every host served.  The server stops when the
block ends; every socket has a timeout.
"""
import contextlib
import http.server
import socket
import ssl
import threading

BIG = object()
BIG_SIZE = 10 * 1024 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5

    def log_message(self, fmt, *args):
        self.server.log.append(fmt % args)

    def do_GET(self):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        self.server.requests.append((host, self.path))
        body = self.server.policies.get(host)
        if self.path != "/.well-known/mta-sts.txt" or body is None:
            self._send(404, "text/plain", b"not found\n")
        elif body is BIG:
            self._big()
        elif isinstance(body, tuple):
            self._send(*body)
        else:
            self._send(200, "text/plain", body)

    def _send(self, status, ctype, body):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _big(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(BIG_SIZE))
        self.end_headers()
        head = b"version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n"
        line = b"mx: mx.bigsts.checktest\r\n"
        chunk = (line * (65536 // len(line) + 1))[:65536]
        sent = 0
        try:
            self.wfile.write(head)
            sent = len(head)
            while sent < BIG_SIZE:
                n = min(len(chunk), BIG_SIZE - sent)
                self.wfile.write(chunk[:n])
                sent += n
        except (OSError, ssl.SSLError):
            pass
        self.server.big_sent.append(sent)
        self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def https_server(cert, key, policies):
    """Serve policies ({host: body}) over HTTPS; yields the server (its
    port is server.port; requests, big_sent and log are lists)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.socket.settimeout(5)
    srv.policies = dict(policies)
    srv.requests = []
    srv.big_sent = []
    srv.log = []
    srv.port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever,
                         kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


@contextlib.contextmanager
def raw_server(behaviour):
    """A TCP server on 127.0.0.1 for MX that misbehave; yields its port.
    behaviour "silent" accepts and never says a word; "garbage" sends
    bytes that are not SMTP and keeps the connection open; "flood" sends
    one endless multi-line greeting (stopped at 1 MB); "tls-close"
    offers STARTTLS, says 220 to it and closes instead of a handshake."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.1)
    stop = threading.Event()
    conns = []

    def serve():
        while not stop.is_set():
            try:
                c, _ = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conns.append(c)
            if behaviour in ("flood", "tls-close"):
                threading.Thread(target=talk, args=(c,),
                                 daemon=True).start()
            elif behaviour == "garbage":
                try:
                    c.sendall(b"\x16\x03\x01\x00\xa5HTTP/1.1 400 Bad\r\n"
                              b"\xff\xfe garbage \x00\r\n")
                except OSError:
                    pass

    def talk(c):
        c.settimeout(5)
        try:
            if behaviour == "flood":
                line = b"220-" + b"x" * 70 + b"\r\n"
                for _ in range(1024 * 1024 // len(line)):
                    if stop.is_set():
                        break
                    c.sendall(line)
                return
            f = c.makefile("rb")
            c.sendall(b"220 mx ESMTP\r\n")
            for _ in range(4):
                cmd = f.readline(1000).upper()
                if cmd.startswith(b"EHLO"):
                    c.sendall(b"250-mx\r\n250 STARTTLS\r\n")
                elif cmd.startswith(b"STARTTLS"):
                    c.sendall(b"220 go ahead\r\n")
                    c.shutdown(socket.SHUT_RDWR)
                    return
                else:
                    return
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        for c in conns:
            c.close()
        sock.close()
