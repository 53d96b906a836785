"""What a scan may reach: pages of the site's allowed origins only, and public addresses only.

A scan loads pages an operator names, and whatever those pages ask for, from inside our network: unchecked,
a page could make the browser reach our own services or the cloud metadata endpoint (SSRF), or a DNS answer
that changes between a check and the browser's own lookup (rebinding) could. So the browser reaches the
network only through `FilteringProxy`, a forward proxy on loopback that resolves each host itself, refuses
it when any of its addresses is not public (the webhook target checks, consent/sites/webhook_targets.py),
and connects to the address it checked. Every request goes through it: subresources, redirects, iframes,
workers and websockets alike, since the browser has no other way out.

`CONSENT_SCAN_ALLOW_PRIVATE` names addresses or networks a scan may reach although they are not public
("127.0.0.1/32"): development and tests only.
"""
import ipaddress
import select
import socketserver
import threading
from urllib.parse import urlsplit

from consent.sites import webhook_targets
from consent.sites.webhook_targets import N_

HEAD_LIMIT = 64 * 1024  # a request head larger than this is not a browser's
IDLE_SECONDS = 30  # a tunnel quiet this long is closed
DEFAULT_PORTS = {"http": 80, "https": 443}


MESSAGES = {
    "no_pages": N_("Name at least one page to scan."),
    "page_limit": N_("A scan visits 1 to %(limit)s pages."),
    "userinfo": N_("%(url)s names a user or password: give the page's plain address."),
    "off_origin": N_("%(url)s is not on one of the site's allowed origins (%(origins)s): a scan visits the "
                     "site's own pages only."),
    "not_host": N_("%(host)s is not a host name."),
    "unresolved": N_("%(host)s does not resolve."),
    "address": N_("%(host)s resolves to %(address)s, %(kind)s: a scan reaches public addresses only."),
    "busy": N_("A scan of this site is already queued or running: wait for it to finish."),
}


class ScanRefused(webhook_targets.TargetRefused):
    """A scan, page or address a scan will not visit; `str()` says which and why in English, `message(gettext)`
    in the reader's language."""

    MESSAGES = MESSAGES


def origin_of(url):
    """scheme://host[:port] of a URL, lower case, default ports left out; None when it is not http(s)."""
    parts = urlsplit(url or "")
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    shown_port = f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{shown_port}"


def check_pages(urls, allowed_origins):
    """Refuse (ScanRefused) any URL that is not an http(s) page of one of the site's allowed origins."""
    allowed = {origin_of(origin) for origin in allowed_origins}
    for url in urls:
        if "@" in urlsplit(url).netloc:
            raise ScanRefused("userinfo", url=url)
        if origin_of(url) not in allowed:
            raise ScanRefused("off_origin", url=url, origins=", ".join(sorted(allowed)))


def allowed_networks(setting):
    """CONSENT_SCAN_ALLOW_PRIVATE's networks, from text ("127.0.0.1/32 ::1") or a list."""
    words = setting.replace(",", " ").split() if isinstance(setting, str) else list(setting or ())
    try:
        return tuple(ipaddress.ip_network(word, strict=False) for word in words)
    except ValueError as error:
        raise RuntimeError(f"CONSENT_SCAN_ALLOW_PRIVATE: {error}") from None


def check_address(host, port, allowed=()):
    """The addresses of `host` a scan may connect to; ScanRefused when any of them is not public and not allowed."""
    if not host or not webhook_targets.HOST.match(host.lower()):
        raise ScanRefused("not_host", host=host)
    try:
        return webhook_targets.resolve(webhook_targets.Target("http", host, port, "/"), allowed_networks=allowed)
    except webhook_targets.TargetRefused as refusal:  # the same reason, said of a scan
        raise ScanRefused(refusal.reason, **refusal.params) from None
    except (OSError, UnicodeError):
        raise ScanRefused("unresolved", host=host) from None


def check_start(urls, allowed_origins, allowed=()):
    """Refuse pages off the site's origins, and pages whose host is not a public address, before any browser."""
    check_pages(urls, allowed_origins)
    for url in urls:
        parts = urlsplit(url)
        check_address(parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], allowed)


class FilteringProxy(socketserver.ThreadingTCPServer):
    """An HTTP forward proxy on a free loopback port that connects only to checked addresses.

    `refused` lists (host, reason) of what it turned away, for the scan's report. Use as a context manager.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, allowed=()):
        super().__init__(("127.0.0.1", 0), _ProxyConnection)
        self.allowed = allowed
        self.refused = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self.shutdown()
        self.server_close()


class _ProxyConnection(socketserver.BaseRequestHandler):
    """One browser connection: a CONNECT tunnel (https, wss), or one plain-http request forwarded."""

    def handle(self):
        head, rest = _read_head(self.request)
        if head is None:
            return
        lines = head.split(b"\r\n")
        try:
            method, target, version = lines[0].decode("latin-1").split(" ")
            host, port, path = _split_target(method, target)
            addresses = check_address(host, port, self.server.allowed)
        except ScanRefused as refusal:
            self.server.refused.append((_host_of(lines[0]), str(refusal)))
            return self._answer(b"403 Forbidden", str(refusal).encode())
        except ValueError:
            return self._answer(b"400 Bad Request", b"not a proxy request")
        try:
            upstream = webhook_targets.connect(addresses, port, IDLE_SECONDS)
        except OSError as error:
            return self._answer(b"502 Bad Gateway", str(error).encode())
        with upstream:
            if method == "CONNECT":
                self.request.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                upstream.sendall(rest)  # what the client sent without waiting for the answer
            else:
                # One request per connection: the browser may send its next one to another host.
                kept = [line for line in lines[1:] if line and not line.lower().startswith(
                    (b"proxy-connection:", b"connection:", b"keep-alive:"))]
                upstream.sendall(b"\r\n".join([f"{method} {path} {version}".encode("latin-1"), *kept,
                                               b"Connection: close", b"", b""]) + rest)
            _pipe(self.request, upstream)

    def _answer(self, status, body):
        self.request.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


def _read_head(connection):
    """The request head (without its blank line) and whatever arrived after it; (None, b"") when none came."""
    connection.settimeout(IDLE_SECONDS)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            data += chunk
            if not chunk or len(data) > HEAD_LIMIT and b"\r\n\r\n" not in data[:HEAD_LIMIT]:
                return None, b""
    except OSError:
        return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _split_target(method, target):
    """(host, port, path) of `CONNECT host:port` or `GET http://host[:port]/path`; ValueError otherwise."""
    if method == "CONNECT":
        parts = urlsplit(f"//{target}")
        if not parts.hostname or "@" in parts.netloc:
            raise ValueError(target)
        return parts.hostname, parts.port or 443, ""
    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname or "@" in parts.netloc:
        raise ValueError(target)
    return parts.hostname, parts.port or 80, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _host_of(request_line):
    target = request_line.decode("latin-1").split(" ")[1:2]
    return (urlsplit(target[0] if "://" in target[0] else f"//{target[0]}").hostname or "") if target else ""


def _pipe(client, upstream):
    """Copy bytes both ways until either side closes or both are quiet for IDLE_SECONDS."""
    sockets = [client, upstream]
    while True:
        readable, _, _ = select.select(sockets, [], [], IDLE_SECONDS)
        if not readable:
            return
        for source in readable:
            try:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
            except OSError:
                return
