"""Who is asking: the client's address, kept only as a keyed, truncated hash (records, rate limits, logs)."""
from flask import current_app, g, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from consent.config import derived_hmac

HASH_LENGTH = 32  # hex characters: 128 bits, plenty to tell clients apart, too few to matter if leaked


def client_hash(client_ip):
    """A keyed HMAC of the address, truncated: it tells clients apart but cannot be reversed without the key.

    The key is derived from SECRET_KEY, so every worker sharing the secret computes the same hash,
    and rotating the secret unlinks old hashes from new ones.
    """
    if not client_ip:
        return None
    if has_request_context() and client_ip == request.remote_addr:
        return current_client_hash()
    return _hashed(client_ip)


def _hashed(client_ip):
    return derived_hmac(current_app.config["SECRET_KEY"], b"consent.client-ip", client_ip)[:HASH_LENGTH]


def current_client_hash():
    """The hash of the current request's client address (the proxy's client when behind trusted proxies).

    Computed once per request: the rate limits, the request log and the decision recorded all ask.
    """
    if "client_hash" not in g:
        g.client_hash = _hashed(request.remote_addr) if request.remote_addr else "unknown"
    return g.client_hash


def init_app(app):
    """Trust X-Forwarded-For/-Proto from exactly CONSENT_PROXY_HOPS proxies in front of us (default none)."""
    hops = app.config["CONSENT_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
