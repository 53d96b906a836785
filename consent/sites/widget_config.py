"""The widget's configuration as served: rendered once per site, policy version and language, per worker.

Every banner waits for this answer, so it costs one indexed lookup instead of a page of work. The
cache key holds what the answer depends on: the site's stamp (sites.site_stamp), the language and
the configured public URL (the archive link is absolute; never the request's Host, which a client
chooses). The catalogs change only with a deploy.
"""

from flask import current_app

from consent.http.compression import encoded_bodies, etag_of
from consent.i18n import widget_strings
from consent.sites.configs import site_stamp, widget_config


def init_app(app):
    app.extensions["consent.widget_configs"] = {}  # (site, language) -> (key, JSON bodies by encoding, ETag)


def served_config(session, site_id, language=None):
    """The site's widget configuration in `language` (None: the site's own), as (JSON bodies by encoding, ETag)."""
    stamp = site_stamp(session, site_id)
    language = language or stamp.default_language
    key = (stamp.current_policy_version, stamp.updated_at, current_app.config["CONSENT_PUBLIC_URL"])
    cache = current_app.extensions["consent.widget_configs"]
    cached = cache.get((site_id, language))
    if cached is None or cached[0] != key:  # one entry per site and language: a stale one is replaced
        config = widget_config(session, site_id, language)
        config["strings"] = widget_strings(language)
        body = current_app.json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()
        cached = cache[(site_id, language)] = (key, encoded_bodies(body), etag_of(body))
    return cached[1], cached[2]
