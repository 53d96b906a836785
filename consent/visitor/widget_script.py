"""The widget script as browsers get it: static/consent.js minified, compressed once, served by the app.

static/consent.js stays the readable file that is edited and tested. Each worker minifies it when it
starts (rjsmin: whitespace and comments only, nothing renamed, so what runs is the source's own code)
and compresses that (consent.http.compression). The script keeps its address and its "static"
endpoint, so the tag sites paste, the rate-limit exemption and the headers of static files stay
as they were. In debug mode the file is read again whenever it changes.
"""
import hashlib
from pathlib import Path

import rjsmin
from flask import current_app, request

from consent.http.compression import compressed_response, encoded_bodies

SCRIPT = "consent.js"


def build(source):
    """(bodies by encoding, ETag) of the minified `source`."""
    minified = rjsmin.jsmin(source).encode()
    return encoded_bodies(minified), hashlib.sha256(minified).hexdigest()[:32]


def init_app(app):
    path = Path(app.static_folder) / SCRIPT
    app.extensions["consent.widget_script"] = (path.stat().st_mtime, *build(path.read_text(encoding="utf-8")))
    app.before_request(serve_script)


def serve_script():
    """Answer for the static view when the file asked for is the widget; any other static file is Flask's."""
    if request.endpoint != "static" or (request.view_args or {}).get("filename") != SCRIPT:
        return None
    if current_app.debug:
        _reload_if_changed()
    _mtime, bodies, etag = current_app.extensions["consent.widget_script"]
    return compressed_response(bodies, etag, "text/javascript")


def _reload_if_changed():
    path = Path(current_app.static_folder) / SCRIPT
    if path.stat().st_mtime != current_app.extensions["consent.widget_script"][0]:
        current_app.extensions["consent.widget_script"] = (path.stat().st_mtime,
                                                          *build(path.read_text(encoding="utf-8")))
