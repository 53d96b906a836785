"""Rate limits (Flask-Limiter) per client address and per site; a refusal is a 429 problem with Retry-After.

Clients are keyed on the keyed hash of their address (consent/http/clients.py), so not even the
limit store (which may be a shared Redis) ever holds a raw IP address. The consoles' sign-in
forms have their own limit against password guessing, refused with a readable page.

Every attempt counts against the client that sent it, refused ones included. A site's bucket counts
only decisions the service stored: a request refused for any reason (another site's origin, an
invalid body, an unknown purpose, a stale policy, the sender's own limit) or a repeated one (same
idempotency key) cannot use up a site's allowance, so nobody can aim the site limit at a site
without sending valid decisions from many addresses (README, "Threat model").
"""
from flask import current_app, make_response, render_template, request
from flask_babel import gettext
from flask_limiter import Limiter

from consent.http.clients import current_client_hash
from consent.schemas import SITE_ID_PATTERN


def client_key():
    return f"client:{current_client_hash()}"


def site_key():
    """The site a request is for, from the URL or else the JSON body; unreadable ones share one bucket."""
    site_id = (request.view_args or {}).get("site_id")
    if site_id is None:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # nesting deep enough to exhaust the parser; the view refuses it
            body = None
        site_id = body.get("site_id") if isinstance(body, dict) else None
    if not isinstance(site_id, str) or not SITE_ID_PATTERN.match(site_id):
        site_id = "-unreadable-"
    return f"site:{site_id}"


def _setting(name):
    return lambda: current_app.config[name]


limiter = Limiter(
    key_func=client_key,
    default_limits=[_setting("CONSENT_RATELIMIT_READS")],
    # The widget script itself is static and cacheable: a CDN or the browser cache absorbs it.
    default_limits_exempt_when=lambda: request.endpoint == "static",
)

# Decorators for the views that record decisions; each replaces the default (read) limit there.
client_writes = limiter.limit(
    _setting("CONSENT_RATELIMIT_CLIENT"),
    error_message="Too many decisions from this address; try again later.",
)


def stored(response):
    """Whether the request stored a decision (201; a repeat of one already stored answers 200)."""
    return response.status_code == 201


# The site bucket is checked before the view runs, but a request takes from it only once it stored a decision.
site_writes = limiter.limit(
    _setting("CONSENT_RATELIMIT_SITE"),
    key_func=site_key,
    deduct_when=stored,
    error_message="Too many decisions for this site right now; try again later.",
)


def mark_stored(response):
    """Whether the request stored a banner mark (204)."""
    return response.status_code == 204


# The banner's anonymous marks (consent/visitor/funnel.py) have buckets of their own, so they never use up a
# visitor's decisions: per client, keyed on the client hash in the limiter's store alone (no table of ours
# holds it), and per site, which only stored marks take from, so one site's flood cannot grow the marks table
# without bound while requests refused for any reason cannot aim the cap at a site.
client_marks = limiter.limit(
    _setting("CONSENT_RATELIMIT_MARKS_CLIENT"),
    error_message="Too many banner marks from this address; try again later.",
)
site_marks = limiter.limit(
    _setting("CONSENT_RATELIMIT_MARKS_SITE"),
    key_func=site_key,
    deduct_when=mark_stored,
    error_message="Too many banner marks for this site right now; try again later.",
)


def sign_in_refused(_request_limit):
    """The 429 page a person sees after too many sign-in attempts, in their language."""
    page = render_template(
        "error.html", status=429, title=gettext("Too many sign-in attempts"),
        detail=gettext("Too many sign-in attempts from this address. Wait a minute, then try again."),
    )
    return make_response(page, 429)


# The admin and auditor sign-in POSTs, per client, in one bucket: guessing on both consoles counts once.
# Every attempt counts, right or wrong; the read limit still applies on top (override_defaults=False).
sign_in_attempts = limiter.shared_limit(
    _setting("CONSENT_RATELIMIT_SIGN_IN"),
    scope="sign-in",
    methods=["POST"],
    override_defaults=False,
    on_breach=sign_in_refused,
)


def init_app(app):
    limiter.init_app(app)
