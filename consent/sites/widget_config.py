"""The widget's configuration as served: rendered once per site, policy version, language and view, per worker.

Every banner waits for this answer, so it costs one indexed lookup instead of a page of work. The
cache key holds what the answer depends on: the site's stamp (sites.site_stamp), the language and
the configured public URL (the archive link is absolute; never the request's Host, which a client
chooses). The catalogs change only with a deploy.

Two views: "full", everything, and "banner", what the banner needs before it shows (the bytes every
first visit waits for): without what only the preference centre and embed placeholders show
(purposes' descriptions and recipients, cookies' lifetimes and descriptions, those screens'
strings). The widget's lazy part asks for the full view when it loads.
"""

from flask import current_app

from consent.http.compression import encoded_bodies, etag_of
from consent.i18n import widget_strings
from consent.sites.configs import LAZY_TEXTS, site_stamp, widget_config


def init_app(app):
    app.extensions["consent.widget_configs"] = {}  # (site, language, view) -> (key, bodies by encoding, ETag)


# The widget strings static/consent.js itself shows (tests/test_widget_delivery.py holds this to its source).
BANNER_STRINGS = frozenset({
    "accept_all", "reject_all", "customize", "save", "close", "manage", "policy_link", "switch_language",
    "signal_notice", "policy_changed", "what_changed", "choose_again", "saved", "save_failed",
    "age_question", "age_adult", "age_minor", "guardian_needed",
})
VIEWS = ("full", "banner")
# What only the preference centre shows of a purpose.
LAZY_PURPOSE_KEYS = ("description", "recipients", *LAZY_TEXTS.values())


def served_config(session, site_id, language=None, view="full"):
    """The site's widget configuration in `language` (None: the site's own) and `view`, as (JSON bodies by
    encoding, ETag)."""
    stamp = site_stamp(session, site_id)
    language = language or stamp.default_language
    key = (stamp.current_policy_version, stamp.updated_at, current_app.config["CONSENT_PUBLIC_URL"])
    cache = current_app.extensions["consent.widget_configs"]
    cached = cache.get((site_id, language, view))
    if cached is None or cached[0] != key:  # one entry per site, language and view: a stale one is replaced
        config = widget_config(session, site_id, language)
        config["strings"] = widget_strings(language)
        if view == "banner":
            config = banner_view(config)
        body = current_app.json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()
        cached = cache[(site_id, language, view)] = (key, encoded_bodies(body), etag_of(body))
    return cached[1], cached[2]


def banner_view(config):
    """`config` without what only the lazy part shows. What clearing needs (names, patterns, domains,
    paths, parties, storage areas) stays: a refusal in the banner clears at once."""
    def short(purpose):
        kept = {key: value for key, value in purpose.items() if key not in LAZY_PURPOSE_KEYS}
        for key in ("cookies", "storage"):
            if key in purpose:
                kept[key] = [{name: value for name, value in entry.items() if name not in ("l", "x")}
                             for entry in purpose[key]]
        return kept

    return {**config, "view": "banner", "purposes": [short(purpose) for purpose in config["purposes"]],
            "strings": {key: text for key, text in config["strings"].items() if key in BANNER_STRINGS}}
