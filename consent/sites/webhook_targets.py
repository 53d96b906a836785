"""Where webhooks may go: public addresses over https, checked when a URL is registered and at every delivery.

A site operator chooses the URL and the delivery loop POSTs to it from inside our network; unchecked,
it could reach our own services or the cloud metadata endpoint (SSRF). The check is on the address
actually connected to: `post` resolves the host once, refuses it if any of its addresses is not
public, and connects to a checked address while keeping the host name for the Host header and TLS,
so a DNS answer that changes after the check (rebinding) gains nothing. Redirects are never followed.
`CONSENT_WEBHOOK_ALLOW_PRIVATE` (development and tests only) allows http and private addresses.
Standard library only (ipaddress, socket, http.client).
"""
import http.client
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


def N_(message):
    """Marks a message for the catalogs; it is translated where a person reads it (the console)."""
    return message


MESSAGES = {
    "scheme": N_("A webhook URL must start with https://."),
    "scheme_http": N_("A webhook URL must start with https:// or http://."),
    "userinfo": N_("A webhook URL may not contain a user name or password."),
    "malformed": N_("This webhook URL has no valid host name or port."),
    "localhost": N_("%(host)s always names this machine: webhooks go to public addresses only."),
    "address": N_("%(host)s resolves to %(address)s, %(kind)s: webhooks go to public addresses only."),
}
ADDRESS_KINDS = {
    "unspecified": N_("an unspecified address"),
    "loopback": N_("a loopback address"),
    "link_local": N_("a link-local address"),
    "multicast": N_("a multicast address"),
    "unique_local": N_("a unique-local address"),
    "reserved": N_("a reserved address"),
    "private": N_("a private address"),
    "not_public": N_("a non-public address"),
}
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses embedded in IPv6 by a NAT64 gateway
# Host names in ASCII (IDNs in punycode) and IP literals; anything else is not worth guessing about.
HOST = re.compile(r"\A[a-z0-9._:-]{1,253}\Z")
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


class TargetRefused(Exception):
    """A webhook URL we will not send to; `str()` is the English reason, `message(gettext)` a translated one.
    A subclass refuses other things with its own MESSAGES (consent/scanner/guard.py)."""

    MESSAGES = MESSAGES

    def __init__(self, reason, **params):
        self.reason = reason
        self.params = params
        super().__init__(self.message())

    def message(self, gettext=None):
        """The reason in English, or through flask_babel's `gettext` in the page's language."""
        # Keys are looked up before the call: pybabel would take literals inside a gettext call for messages.
        translate = gettext or (lambda text, **params: text % params if params else text)
        params = dict(self.params)
        if "kind" in params:
            kind_text = ADDRESS_KINDS[params["kind"]]
            params["kind"] = translate(kind_text)
        message_text = self.MESSAGES[self.reason]
        return translate(message_text, **params)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # the request target: path and query


def parse(url, allow_private=False):
    """The parts of a webhook URL, refusing what can never be one (other schemes, user info, odd hosts)."""
    parts = urlsplit(url or "")
    if parts.scheme not in (("https", "http") if allow_private else ("https",)):
        raise TargetRefused("scheme_http" if allow_private else "scheme")
    if "@" in parts.netloc:  # https://example.com@127.0.0.1/ is a request to 127.0.0.1
        raise TargetRefused("userinfo")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port out of range or not a number
        raise TargetRefused("malformed") from None
    if not host or not HOST.match(host) or CONTROL_OR_SPACE.search(url):
        raise TargetRefused("malformed")
    if not allow_private and (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")):
        raise TargetRefused("localhost", host=host)  # RFC 6761: loopback, whatever a resolver answers
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def address_kind(address):
    """Why an IP address is not a public one (a key of ADDRESS_KINDS), or None if it is public."""
    address = _bare(address)
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_kind(str(embedded)) or ("private" if address.ipv4_mapped else None)
    kinds = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link_local", address.is_link_local),  # 169.254.169.254: cloud metadata
        ("multicast", address.is_multicast),
        ("unique_local", address.version == 6 and address in UNIQUE_LOCAL),
        ("reserved", address.is_reserved),
        ("private", address.is_private),  # RFC 1918, and documentation and benchmark ranges
        ("not_public", not address.is_global),  # shared address space (100.64.0.0/10) and the like
    )
    return next((kind for kind, applies in kinds if applies), None)


def resolve(target, allow_private=False, allowed_networks=()):
    """Every address the host resolves to, refusing the host if any one of them is not public.

    One non-public answer is enough to refuse: a name that also resolves inside is not trusted.
    Numeric forms (2130706433, 0177.0.0.1) resolve like the address they spell, so they are caught too.
    A name that does not resolve raises socket.gaierror (an OSError). `allowed_networks` (ipaddress
    networks) are let through although not public: the scanner's development setting.
    """
    answers = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(answer[4][0] for answer in answers))
    if not allow_private:
        for address in addresses:
            kind = address_kind(address)
            if kind is not None and not any(_bare(address) in network for network in allowed_networks):
                raise TargetRefused("address", host=target.host, address=address, kind=kind)
    return addresses


def _bare(address):
    """An address as ipaddress reads it, its IPv6 scope left out ("fe80::1%eth0")."""
    return ipaddress.ip_address(address.split("%", 1)[0])


def check_registration(url, allow_private=False):
    """Refuse (TargetRefused) a URL being registered that is not, or does not resolve to, a public https target.

    A name that does not resolve now is accepted: it is resolved and checked again at every delivery.
    """
    target = parse(url, allow_private)
    try:
        resolve(target, allow_private)
    except socket.gaierror:
        pass
    return target


def post(url, body, headers, timeout, allow_private=False):
    """POST `body` to a checked address of the URL's host; returns the status code (redirects are not followed).

    Refusals raise TargetRefused before anything is sent; network failures raise OSError or HTTPException.
    """
    target = parse(url, allow_private)
    addresses = resolve(target, allow_private)
    connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(target.host, target.port, timeout=timeout)
    # http.client connects through this attribute: to the checked addresses, never to the name again.
    # The name still gives the Host header and, over https, the TLS server name and certificate check.
    connection._create_connection = _connect_to_one_of(addresses, target.port)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def connect(addresses, port, timeout, source_address=None):
    """A socket to the first of these (checked) addresses that answers, tried in order; else the last OSError."""
    failure = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout, source_address)
        except OSError as error:
            failure = error
    raise failure


def _connect_to_one_of(addresses, port):
    """A connect function for http.client that tries only these (checked) addresses, in order."""
    return lambda _requested, timeout, source_address=None: connect(addresses, port, timeout, source_address)
