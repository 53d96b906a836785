"""The widget as browsers get it: static/consent.js and static/consent-lazy.js minified, compressed once and
served by the app, and the per-site script that carries its config so the banner needs one request.

The static files stay the readable sources that are edited and tested. Each worker minifies them when
first asked for (rjsmin: whitespace and comments only, nothing renamed, so what runs is the sources'
own code) and compresses that (consent.http.compression), so apps that never serve them (commands,
most tests) never build them. In debug mode a file is read again whenever it changes.

Caching, per file (README, "One request to the banner"):
- consent.js and the per-site script are revalidated on every page load (a 304 without a body while
  unchanged), because the tag a site pasted never changes its address: a new policy version or a new
  widget is seen at the next page load.
- consent-lazy.js is addressed by its content (?v=<hash>, written into consent.js as served) and so
  is immutable: a returning visitor opens the preference centre without a request.
"""
from pathlib import Path

import rjsmin
from flask import current_app, request

from consent.http.compression import compressed_response, encoded_bodies, etag_of

CORE = "consent.js"
LAZY = "consent-lazy.js"
LAZY_ADDRESS = b'"/static/consent-lazy.js"'  # as the core's source writes it
IMMUTABLE = "public, max-age=31536000, immutable"
# JSON allows these two in strings, ES2017 does not (they end a line): a site text holding one would
# stop the per-site script in older browsers.
LINE_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029"}


class Built:
    """One served file: its minified bytes, those bytes in every encoding, their ETag."""

    def __init__(self, minified, mtimes):
        self.minified = minified
        self.bodies = encoded_bodies(minified)
        self.etag = etag_of(minified)
        self.mtimes = mtimes


def init_app(app):
    app.extensions["consent.widget_script"] = {}  # file name -> Built, made by the first request for it
    app.extensions["consent.site_scripts"] = {}  # (site, language) -> (key, Built)
    app.before_request(serve_script)


def serve_script():
    """Answer for the static view when the file asked for is the widget's; any other static file is Flask's."""
    filename = (request.view_args or {}).get("filename") if request.endpoint == "static" else None
    if filename not in (CORE, LAZY):
        return None
    built = _built(filename)
    response = compressed_response(built.bodies, built.etag, "text/javascript")
    if filename == LAZY and request.args.get("v") == lazy_version(built):
        response.cache_control.no_cache = None
        response.headers["Cache-Control"] = IMMUTABLE
    return response


def lazy_version(built):
    return built.etag[:16]


def site_script(config_json, language_config_etag):
    """The per-site script: the core, told its config (the widget config's JSON) before it starts.

    The core finds the config on its own <script> element (document.currentScript), so the page gets
    no global. Cached per config, as the config is.
    """
    core = _built(CORE)
    key = (language_config_etag, core.etag)
    cache = current_app.extensions["consent.site_scripts"]
    cached = cache.get(key)
    if cached is None:
        text = config_json.decode()
        for separator, escaped in LINE_SEPARATORS.items():
            text = text.replace(separator, escaped)
        cached = Built(b"document.currentScript.consentConfig=" + text.encode() + b";" + core.minified, None)
        if len(cache) > 1000:  # one entry per site, language and version: a bound on what is kept
            cache.clear()
        cache[key] = cached
    return cached


def _built(filename):
    """The served `filename`: built once, and again in debug mode when a source changed.

    The core names the lazy file's version, so it is built after it, and again when it changes. Two
    threads asking first may both build it; both build the same bytes, and the entry is replaced whole.
    """
    folder = Path(current_app.static_folder)
    sources = [LAZY] if filename == LAZY else [LAZY, CORE]
    mtimes = tuple((folder / source).stat().st_mtime if current_app.debug else None for source in sources)
    cache = current_app.extensions["consent.widget_script"]
    built = cache.get(filename)
    if built is None or built.mtimes != mtimes:
        minified = rjsmin.jsmin((folder / filename).read_text(encoding="utf-8")).encode()
        if filename == CORE:
            versioned = b'"/static/consent-lazy.js?v=' + lazy_version(_built(LAZY)).encode() + b'"'
            if minified.count(LAZY_ADDRESS) != 1:
                raise RuntimeError(f"static/{CORE} must name {LAZY_ADDRESS.decode()} once.")
            minified = minified.replace(LAZY_ADDRESS, versioned)
        built = cache[filename] = Built(minified, mtimes)
    return built
