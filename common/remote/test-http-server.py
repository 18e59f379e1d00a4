#!/usr/bin/env python3
# xdisk: a small HTTP/1.1 server for common/remote/test-http.c.
#
#   test-http-server.py ROOT [CERT KEY]
#
# With CERT and KEY it serves HTTPS with that certificate.
# Serves the files of ROOT on 127.0.0.1 at a free port, which it prints
# on its first line of output.  The first segments of a path choose how
# it misbehaves; the rest names the file:
#
#   /ok/F               single ranges (206), HEAD with Accept-Ranges
#   /ignore/F           ignores Range: 200 and the whole file
#   /liar/F             200 with as many bytes as asked, from offset 0
#   /short/F            206 with the right Content-Range, a short body
#   /wrongcr/F          206 with the bytes one further on, and says so
#   /nohead/F           HEAD answers 405
#   /noaccept/F         HEAD without Accept-Ranges (ranges do work)
#   /norange/F          no Accept-Ranges, Range ignored (http.server)
#   /flaky/K/TAG/F      503 (Retry-After: 0) for the first K requests of TAG
#   /drop/K/TAG/F       closes the connection unanswered K times
#   /busy/F             503 always
#   /later/K/TAG/F      503 with Retry-After: 1 for the first K requests of TAG
#   /presigned/F        HEAD answers 403 (as to a URL signed for GET)
#   /auth/F             Basic user:secret, 401 otherwise
#   /session/N/TAG/F    VMware-style: Basic user:secret sets the cookie
#                       vmware_soap_session; a cookie is good for N
#                       requests, then 401 (N negative: 403)
#   /redir/F            302 to /ok/F
#   /xredir/REST        302 to http://localhost:PORT/REST: another origin
#   /stats/TAG          "basic=B cookie=C" for TAG
import base64
import http.server
import os
import ssl
import sys
import threading

ROOT = sys.argv[1]
GOOD_AUTH = "Basic " + base64.b64encode(b"user:secret").decode()
lock = threading.Lock()
counts = {}        # TAG -> requests seen (flaky, drop)
stats = {}         # TAG -> [basic logins, cookie requests]
sessions = {}      # cookie value -> requests left


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def plain(self, code, text="", headers=()):
        body = text.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.serve()

    def do_GET(self):
        self.serve()

    def count(self, tag):
        with lock:
            counts[tag] = counts.get(tag, 0) + 1
            return counts[tag]

    def session(self, limit, tag):
        """True if the request may go on; else it was answered."""
        cookie = None
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "vmware_soap_session":
                cookie = v
        with lock:
            st = stats.setdefault(tag, [0, 0])
            if cookie is not None:
                st[1] += 1
                left = sessions.get(cookie, 0)
                if left > 0:
                    sessions[cookie] = left - 1
                    return True
                code = 403 if limit < 0 else 401
            elif self.headers.get("Authorization") == GOOD_AUTH:
                st[0] += 1
                new = "s%d%s" % (st[0], tag)
                sessions[new] = abs(limit)
                self.set_cookie = new
                return True
            else:
                code = 401
        self.plain(code, "no", [("WWW-Authenticate", 'Basic realm="x"')])
        return False

    def serve(self):
        self.set_cookie = None
        parts = self.path.split("?")[0].split("/")[1:]
        mode = parts[0]
        if mode == "stats":
            st = stats.get(parts[1], [0, 0])
            return self.plain(200, "basic=%d cookie=%d" % (st[0], st[1]))
        if mode in ("flaky", "drop", "later"):
            k, tag, name = int(parts[1]), parts[2], parts[3:]
            if self.count(tag) <= k:
                if mode == "flaky":
                    return self.plain(503, "busy", [("Retry-After", "0")])
                if mode == "later":
                    return self.plain(503, "busy", [("Retry-After", "1")])
                self.close_connection = True
                return
        elif mode == "session":
            limit, tag, name = int(parts[1]), parts[2], parts[3:]
            if not self.session(limit, tag):
                return
        elif mode == "busy":
            return self.plain(503, "busy")
        elif mode == "auth":
            name = parts[1:]
            if self.headers.get("Authorization") != GOOD_AUTH:
                return self.plain(401, "no",
                                  [("WWW-Authenticate", 'Basic realm="x"')])
        elif mode == "xredir":
            return self.plain(302, "", [("Location", "http://localhost:%d/%s" % (
                self.server.server_address[1], "/".join(parts[1:])))])
        elif mode == "redir":
            return self.plain(302, "", [("Location", "/ok/" + "/".join(parts[1:]))])
        else:
            name = parts[1:]
        path = os.path.join(ROOT, *name)
        if ".." in name or not os.path.isfile(path):
            return self.plain(404, "not found")
        with open(path, "rb") as f:
            data = f.read()
        self.send_file(mode, data)

    def send_file(self, mode, data):
        size = len(data)
        extra = []
        if self.set_cookie:
            extra.append(("Set-Cookie",
                          "vmware_soap_session=%s; Path=/; HttpOnly" % self.set_cookie))
        if self.command == "HEAD":
            if mode == "nohead":
                return self.plain(405, "", extra)
            if mode == "presigned":
                return self.plain(403, "", extra)
            if mode not in ("noaccept", "norange"):
                extra.append(("Accept-Ranges", "bytes"))
            return self.head(size, extra)
        rng = self.headers.get("Range")
        if rng is None or mode in ("ignore", "norange"):
            return self.body(200, data, extra)
        a, _, b = rng[len("bytes="):].partition("-")
        a, b = int(a), min(int(b), size - 1)
        if a >= size:
            return self.plain(416, "", [("Content-Range", "bytes */%d" % size)])
        shown_a, shown_b = a, b
        chunk = data[a:b + 1]
        if mode == "liar":
            return self.body(200, data[:b + 1 - a], extra)
        if mode == "short":
            chunk = chunk[:len(chunk) // 2]
        elif mode == "wrongcr":
            shown_a, shown_b = a + 1, b + 1
            chunk = data[a + 1:b + 2]
        extra.append(("Content-Range", "bytes %d-%d/%d" % (shown_a, shown_b, size)))
        self.body(206, chunk, extra)

    def head(self, size, extra):
        self.send_response(200)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()

    def body(self, code, chunk, extra):
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass        # a client that hangs up (a refused read) is expected


server = Server(("127.0.0.1", 0), Handler)
if len(sys.argv) > 3:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = tls.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
