"""The widget script as browsers get it: static/consent.js minified, compressed once, served by the app.

static/consent.js stays the readable file that is edited and tested. Each worker minifies it when it is
first asked for (rjsmin: whitespace and comments only, nothing renamed, so what runs is the source's
own code) and compresses that (consent.http.compression), so apps that never serve it (commands,
most tests) never build it. The script keeps its address and its "static"
endpoint, so the tag sites paste, the rate-limit exemption and the headers of static files stay
as they were. In debug mode the file is read again whenever it changes.
"""
from pathlib import Path

import rjsmin
from flask import current_app, request

from consent.http.compression import compressed_response, encoded_bodies, etag_of

SCRIPT = "consent.js"


def build(source):
    """(bodies by encoding, ETag) of the minified `source`."""
    minified = rjsmin.jsmin(source).encode()
    return encoded_bodies(minified), etag_of(minified)


def init_app(app):
    app.extensions["consent.widget_script"] = None  # built by the first request for it, not by every app
    app.before_request(serve_script)


def serve_script():
    """Answer for the static view when the file asked for is the widget; any other static file is Flask's."""
    if request.endpoint != "static" or (request.view_args or {}).get("filename") != SCRIPT:
        return None
    _mtime, bodies, etag = _built()
    return compressed_response(bodies, etag, "text/javascript")


def _built():
    """(mtime, bodies, ETag) of the served script: built once, and again in debug mode when the file changed.

    Two threads asking first may both build it; both build the same bytes, and the tuple is replaced whole.
    """
    built = current_app.extensions["consent.widget_script"]
    path = Path(current_app.static_folder) / SCRIPT
    if built is None or (current_app.debug and path.stat().st_mtime != built[0]):
        built = (path.stat().st_mtime, *build(path.read_text(encoding="utf-8")))
        current_app.extensions["consent.widget_script"] = built
    return built
