#!/usr/bin/env python3
# A test server that behaves like the /folder file access of VMware ESXi
# (../shared/docs/remote-sources.md §1.1-§1.3, and §6.1 for what an
# emulator must reproduce), so that the remote tests can read VM
# folders over HTTP the way xdisk reads a real datastore.
#
#   esxi-server.py --datastore NAME=DIR [--datastore ...] --port-file F
#                  [--log F] [--dc NAME] [--user U --password-file F]
#                  [--expire-after N] [--expire-status 401|403]
#                  [--fail-every K] [--drop-every K] [--delay-ms D]
#                  [--max-connections C] [--multi-range 416|200]
#                  [--lie size|short|range|ignore-range|start0]
#                  [--lie-path SUB]
#                  [--fault drop|503 --fault-path SUB --fault-range A-B]
#                  [--tls CERT KEY]
#
# URLs: /folder/<path>?dcPath=<dc>&dsName=<ds> (dcPath may be omitted:
# ha-datacenter, or --dc).  The path is percent-decoded once; dcPath and
# dsName are form-decoded once ('+' is a space), and if that names no
# datacenter or datastore, decoded a second time (virt-v2v double-encodes
# them since 2026, §1.1).  An unknown dc, ds or path is 404.
#
# HEAD on a file: 200, Content-Length, application/octet-stream,
# Accept-Ranges: bytes; a directory: 200 text/html.  GET with one
# "Range: bytes=a-b" (or a-, -n): 206 and its exact Content-Range, but
# 200 and the whole body when the range covers the whole file (§1.3:
# ESXi does this for a small file); more than one range: 416 (or 200
# with --multi-range 200); a start past the end: 416.
#
# Authentication (with --user): Basic is required until the client
# holds a session cookie; each Basic success without a live cookie sets
# vmware_soap_session="<random>" (§1.2).  A cookie that was never issued
# or has expired is answered 401 (or --expire-status 403), whatever else
# the request carries, so that the client must drop it and log in again.
# --expire-after N: a cookie expires after N requests made with it.
#
# Faults, from one request counter shared by all connections (so a run
# is deterministic for a client that sends its requests in order):
# --fail-every K answers the K-th, 2K-th... request 503; --drop-every K
# closes the connection on them without answering; --delay-ms D sleeps
# before every answer; --max-connections C answers 503 while more than C
# connections are open.
#
# --fault drop|503 with --fault-path SUB and --fault-range A-B: every GET
# of a file whose decoded path contains SUB for a range that overlaps
# bytes A-B (inclusive) is dropped or answered 503, every time: the
# reads that need those bytes must fail, and only those.
#
# Lies, for the security tests, on files whose decoded path contains
# --lie-path (default: every file): size (HEAD's Content-Length 64 KiB
# too large), short (a 206 whose body is shorter than its
# Content-Range), range (a 206 for another range than asked: 512 bytes
# further on, with a Content-Range that says so), ignore-range (200 and
# the whole file for every GET), start0 (200 and as many bytes as asked,
# but from the start of the file).
#
# The port (bound on 127.0.0.1, port 0) is written to --port-file once
# the server listens.  --log gets every request line, and the VALUE of
# every Range, Authorization and Cookie header and of every cookie set, so that
# a test can check what the client sent and grep the client's own output
# for the secrets.
import argparse
import base64
import html
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COOKIE = "vmware_soap_session"
LIE_SIZE_EXTRA = 65536
LIE_RANGE_SHIFT = 512


class State:
    """What all connections share: sessions, the request counter, the
    number of open connections and the log."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.sessions = {}      # cookie value -> requests still allowed (None: no limit)
        self.log_file = open(args.log, "a", buffering=1) if args.log else None
        self.password = None
        if args.password_file:
            with open(args.password_file) as f:
                self.password = f.read().rstrip("\n")

    def log(self, line):
        if self.log_file:
            with self.lock:
                self.log_file.write(line + "\n")

    def next_request(self):
        with self.lock:
            self.requests += 1
            return self.requests

    def new_session(self):
        value = secrets.token_hex(16)
        with self.lock:
            self.sessions[value] = self.args.expire_after
        return value

    def use_session(self, value):
        """True if VALUE is a live session; counts this request."""
        with self.lock:
            if value not in self.sessions:
                return False
            left = self.sessions[value]
            if left is None:
                return True
            if left <= 0:
                return False
            self.sessions[value] = left - 1
            return True


def decode_name(value, known):
    """A dcPath or dsName value: form-decoded once, or twice if once names
    nothing in KNOWN (§1.1).  None if neither does."""
    once = urllib.parse.unquote_plus(value)
    if once in known:
        return once
    twice = urllib.parse.unquote(once)
    if twice in known:
        return twice
    return None


def parse_range(header, size):
    """(start, end) inclusive for a single "bytes=" range, "multi" for more
    than one, "bad" for anything else or a start past the end."""
    if not header.startswith("bytes="):
        return "bad"
    spec = header[len("bytes="):].strip()
    if "," in spec:
        return "multi"
    first, dash, last = spec.partition("-")
    if dash != "-":
        return "bad"
    try:
        if first == "":                 # bytes=-n: the last n bytes
            n = int(last)
            if n <= 0:
                return "bad"
            return (max(size - n, 0), size - 1) if size > 0 else "bad"
        start = int(first)
        end = int(last) if last != "" else size - 1
    except ValueError:
        return "bad"
    if start < 0 or end < start or start >= size:
        return "bad"
    return (start, min(end, size - 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "esxi-emulator"

    def log_message(self, fmt, *args):
        pass                            # our own log instead

    def setup(self):
        super().setup()
        st = self.server.state
        with st.lock:
            st.connections += 1

    def finish(self):
        st = self.server.state
        with st.lock:
            st.connections -= 1
        try:
            super().finish()
        except OSError:
            pass

    # ---- answers ----

    def answer(self, code, body=b"", headers=(), head=False):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)
        self.server.state.log("STATUS %d" % code)

    def not_found(self, head):
        self.answer(404, b"Not Found\n", [("Content-Type", "text/plain")],
                    head)

    # ---- the request ----

    def do_HEAD(self):
        self.handle_request(head=True)

    def do_GET(self):
        self.handle_request(head=False)

    def handle_request(self, head):
        st = self.server.state
        args = st.args
        n = st.next_request()
        st.log("REQ %d %s" % (n, self.requestline))
        for name in ("Range", "Authorization", "Cookie"):
            for value in self.headers.get_all(name) or []:
                st.log("%s %s" % (name.upper(), value))
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        if args.drop_every and n % args.drop_every == 0:
            st.log("DROP %d" % n)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if args.fail_every and n % args.fail_every == 0:
            self.answer(503, b"Service Unavailable\n",
                        [("Content-Type", "text/plain")], head)
            return
        if args.max_connections:
            with st.lock:
                over = st.connections > args.max_connections
            if over:
                self.answer(503, b"Too many connections\n",
                            [("Content-Type", "text/plain")], head)
                return
        set_cookie = self.authenticate(head)
        if set_cookie is False:
            return
        extra = []
        if set_cookie:
            extra.append(("Set-Cookie",
                          '%s="%s"; Path=/; HttpOnly' % (COOKIE, set_cookie)))
            st.log("SET-COOKIE %s" % set_cookie)
        self.serve_path(head, extra)

    def authenticate(self, head):
        """None: no new cookie needed; a string: set this cookie; False:
        answered already (401/403)."""
        st = self.server.state
        args = st.args
        if not args.user:
            return None
        cookie = self.session_cookie()
        if cookie is not None:
            if st.use_session(cookie):
                return None
            # An expired or unknown session, even with Basic beside it.
            self.answer(args.expire_status, b"Session expired\n",
                        [("Content-Type", "text/plain")], head)
            return False
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = (base64.b64decode(auth[6:], validate=True)
                                     .decode("utf-8").partition(":"))
            except (ValueError, UnicodeDecodeError):
                user = password = None
            if user == args.user and password == st.password:
                return st.new_session()
        self.answer(401, b"Unauthorized\n",
                    [("Content-Type", "text/plain"),
                     ("WWW-Authenticate", 'Basic realm="VMware HTTP server"')],
                    head)
        return False

    def session_cookie(self):
        for header in self.headers.get_all("Cookie") or []:
            for part in header.split(";"):
                name, eq, value = part.strip().partition("=")
                if eq and name == COOKIE:
                    return value.strip('"')
        return None

    def resolve(self):
        """The local path (bytes) the URL names, or None (404)."""
        args = self.server.state.args
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/folder" and not url.path.startswith("/folder/"):
            return None
        query = {}
        for part in url.query.split("&") if url.query else []:
            key, _, value = part.partition("=")
            query.setdefault(key, value)
        dc = "ha-datacenter"
        if "dcPath" in query:
            dc = decode_name(query["dcPath"], {args.dc})
        if dc != args.dc:
            return None
        if "dsName" not in query:
            return None
        ds = decode_name(query["dsName"], self.server.datastores)
        if ds is None:
            return None
        rel = urllib.parse.unquote_to_bytes(url.path[len("/folder"):])
        parts = [p for p in rel.split(b"/") if p]
        if any(p in (b".", b"..") or b"\0" in p for p in parts):
            return None
        root = self.server.datastores[ds]
        return os.path.join(root, *parts) if parts else root

    def serve_path(self, head, extra):
        path = self.resolve()
        if path is None or not os.path.exists(path):
            self.not_found(head)
            return
        if os.path.isdir(path):
            names = sorted(os.fsdecode(n) for n in os.listdir(path))
            body = ("<html><body>%s</body></html>\n" % "".join(
                "<a href=\"%s\">%s</a><br>" % (urllib.parse.quote(n),
                                               html.escape(n))
                for n in names)).encode()
            self.answer(200, body, extra + [("Content-Type", "text/html")],
                        head)
            return
        self.serve_file(path, head, extra)

    def lie(self, path):
        args = self.server.state.args
        if args.lie and (args.lie_path is None or
                         os.fsencode(args.lie_path) in path):
            return args.lie
        return None

    def faulty(self, path, size):
        """True if this GET hits the --fault range (and was answered)."""
        args = self.server.state.args
        if not args.fault or os.fsencode(args.fault_path) not in path:
            return False
        header = self.headers.get("Range")
        rng = parse_range(header, size) if header else (0, size - 1)
        if not isinstance(rng, tuple):
            return False
        first, _, last = args.fault_range.partition("-")
        if rng[1] < int(first) or rng[0] > int(last):
            return False
        if args.fault == "503":
            self.answer(503, b"Service Unavailable\n",
                        [("Content-Type", "text/plain")])
        else:
            self.server.state.log("DROP fault")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return True

    def serve_file(self, path, head, extra):
        args = self.server.state.args
        lie = self.lie(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if not head and self.faulty(path, size):
                return
            base = extra + [("Content-Type", "application/octet-stream"),
                            ("Accept-Ranges", "bytes")]
            if head:
                shown = size + LIE_SIZE_EXTRA if lie == "size" else size
                self.answer(200, b"", base + [("Content-Length", str(shown))],
                            head=True)
                return
            header = self.headers.get("Range")
            if header is None or lie == "ignore-range":
                self.answer(200, f.read(), base)
                return
            rng = parse_range(header, size)
            if rng == "multi" and args.multi_range == 200:
                self.answer(200, f.read(), base)
                return
            if rng in ("multi", "bad"):
                self.answer(416, b"", extra + [("Content-Range",
                                                "bytes */%d" % size)])
                return
            start, end = rng
            if lie == "start0":
                self.answer(200, f.read(end - start + 1), base)
                return
            if start == 0 and end == size - 1:
                self.answer(200, f.read(), base)
                return
            if lie == "range":
                start = min(start + LIE_RANGE_SHIFT, size - 1)
                end = min(end + LIE_RANGE_SHIFT, size - 1)
            f.seek(start)
            body = f.read(end - start + 1)
            if lie == "short":
                body = body[:len(body) // 2]
            self.answer(206, body, base + [
                ("Content-Range", "bytes %d-%d/%d" % (start, end, size))])


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state, datastores, tls):
        self.state = state
        self.datastores = datastores
        self.tls = tls
        super().__init__(("127.0.0.1", 0), Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's thread, so that a
        # slow client does not hold up accept().
        if self.tls:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)


def main():
    p = argparse.ArgumentParser(description="ESXi /folder emulator")
    p.add_argument("--datastore", action="append", default=[],
                   metavar="NAME=DIR", required=True)
    p.add_argument("--dc", default="ha-datacenter")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--user")
    p.add_argument("--password-file")
    p.add_argument("--expire-after", type=int)
    p.add_argument("--expire-status", type=int, choices=(401, 403),
                   default=401)
    p.add_argument("--fail-every", type=int, default=0)
    p.add_argument("--drop-every", type=int, default=0)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--max-connections", type=int, default=0)
    p.add_argument("--multi-range", type=int, choices=(200, 416),
                   default=416)
    p.add_argument("--lie", choices=("size", "short", "range",
                                     "ignore-range", "start0"))
    p.add_argument("--lie-path")
    p.add_argument("--fault", choices=("drop", "503"))
    p.add_argument("--fault-path", default="")
    p.add_argument("--fault-range", default="0-0")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = p.parse_args()
    if args.user and not args.password_file:
        p.error("--user needs --password-file")

    datastores = {}
    for spec in args.datastore:
        name, eq, root = spec.partition("=")
        if not eq or not name or not os.path.isdir(root):
            p.error("--datastore %s: want NAME=DIR with an existing DIR" % spec)
        datastores[name] = os.fsencode(os.path.realpath(root))

    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls[0], args.tls[1])

    server = Server(State(args), datastores, tls)
    port = server.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
