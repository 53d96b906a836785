"""Links the service signs or shows, always on its one configured public URL.

`url_for(..., _external=True)` would take the host from the request's Host header, which whoever
sends the request chooses: `Host: evil.example` would then end up inside signed receipts.
"""
from flask import current_app, url_for


def public_url(endpoint, **values):
    """The absolute URL of `endpoint` on CONSENT_PUBLIC_URL."""
    return current_app.config["CONSENT_PUBLIC_URL"].rstrip("/") + url_for(endpoint, **values)


def init_app(app):
    app.jinja_env.globals["public_url"] = public_url
