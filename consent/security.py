"""Security headers on everything we serve: strict CSP on our pages, nosniff everywhere, no referrers.

The widget script is the one thing meant for other sites: host pages load it with a plain
<script> tag (no CORS needed), and it stays loadable by pages that set Cross-Origin-Embedder-Policy.
"""
from flask import request

# Our own pages load only our own scripts, styles and API; only our own pages may frame them
# (the console previews the banner in frames of its own).
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
# JSON is never rendered as a document: should a browser try, it may do nothing at all.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000; includeSubDomains"


def add_security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Receipt links carry their access token in the query: never hand our URLs to another site.
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint == "static":
        headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    elif request.path.startswith("/api/"):
        headers.setdefault("Content-Security-Policy", API_POLICY)
        # Decisions and receipts name a person: no shared cache may keep them.
        if request.method == "POST" or request.endpoint == "api.get_receipt":
            headers.setdefault("Cache-Control", "no-store")
    else:
        headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    return response


def init_app(app):
    app.after_request(add_security_headers)
