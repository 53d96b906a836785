"""Rate limits per client address and per site (Flask-Limiter's store); a refusal is a 429 problem with Retry-After.

Clients are keyed on the keyed hash of their address (consent/http/clients.py), so not even the
limit store (which may be a shared Redis) ever holds a raw IP address. The consoles' sign-in
forms have their own limit against password guessing, refused with a readable page.

Every attempt counts against the client that sent it, refused ones included. A site's bucket counts
only decisions the service stored: a request refused for any reason (another site's origin, an
invalid body, an unknown purpose, a stale policy, the sender's own limit) or a repeated one (same
idempotency key) cannot use up a site's allowance, so nobody can aim the site limit at a site
without sending valid decisions from many addresses (README, "Threat model").
"""
import functools
import logging
import math
import time

from flask import abort, current_app, make_response, render_template, request
from flask_babel import gettext
from flask_limiter import Limiter
from limits import parse

from consent.errors import problem_response
from consent.http.clients import current_client_hash
from consent.http.local_counters import LocalCounters, SharedCounters
from consent.schemas import SITE_ID_PATTERN

limits_log = logging.getLogger("consent.limits")


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

class WriteLimits:
    """The client and site buckets of an endpoint that writes, in this worker's counters or the shared store.

    Flask-Limiter's own decorators cost 0.57 ms a decision (issue 18: resolving, parsing and keying each limit
    again on every request, twice over); this checks the same buckets in a few µs (consent/http/local_counters.py
    for memory://, `limits` over the store otherwise). The
    client bucket takes every attempt, refused ones included; the site bucket (optional) is tested before the
    view and taken from only when `stored(response)`. A refusal is a 429 problem with Retry-After.
    """

    def __init__(self, client_setting, client_message, site_setting=None, site_message=None, stored=None):
        self.client_setting, self.client_message = client_setting, client_message
        self.site_setting, self.site_message, self.stored = site_setting, site_message, stored

    def __call__(self, view):
        @functools.wraps(view)
        def limited(**kwargs):
            config = current_app.config
            if not config["RATELIMIT_ENABLED"]:
                return view(**kwargs)
            counters = _counters()
            client_limit, client = _parsed(config[self.client_setting]), (request.endpoint, client_key())
            if not counters.hit(client_limit, *client):
                _refuse(counters, client_limit, client, self.client_message)
            if self.site_setting:
                site_limit, site = _parsed(config[self.site_setting]), (request.endpoint, site_key())
                if not counters.test(site_limit, *site):
                    _refuse(counters, site_limit, site, self.site_message)
            response = current_app.make_response(view(**kwargs))
            if self.site_setting and self.stored(response):
                counters.hit(site_limit, *site)
            if config["RATELIMIT_HEADERS_ENABLED"]:
                reset, remaining = counters.window(client_limit, *client)
                response.headers.update({"X-RateLimit-Limit": str(client_limit.amount),
                                         "X-RateLimit-Remaining": str(remaining),
                                         "X-RateLimit-Reset": str(int(reset))})
            return response

        limited.own_rate_limits = True  # Flask-Limiter leaves it alone: these replace its limits, the read limit too
        return limited


@limiter.request_filter
def _limited_on_their_own():
    """Whether the request's view has WriteLimits, which Flask-Limiter then skips: its cheapest exemption."""
    return getattr(current_app.view_functions.get(request.endpoint), "own_rate_limits", False)


@functools.lru_cache(maxsize=64)
def _parsed(text):
    return parse(text)


def _counters():
    """This worker's counters for memory:// (local_counters.LocalCounters), else the shared store's."""
    counters = current_app.extensions.get("consent.write_counters")
    if counters is None:
        counters = current_app.extensions["consent.write_counters"] = SharedCounters(limiter.limiter)
    return counters


def _refuse(counters, limit, identifiers, message):
    """Answer 429 with Retry-After; the log line names the limit and endpoint, never the bucket's key."""
    limits_log.info("rate limit %s exceeded at endpoint %s", limit, identifiers[0])
    response = problem_response(429, "Too Many Requests", message)
    if current_app.config["RATELIMIT_HEADERS_ENABLED"]:
        reset = counters.window(limit, *identifiers)[0]
        response.headers["Retry-After"] = str(max(1, math.ceil(reset - time.time())))
    abort(response)


def stored(response):
    """Whether the request stored a decision (201; a repeat of one already stored answers 200)."""
    return response.status_code == 201


def mark_stored(response):
    """Whether the request stored a banner mark (204)."""
    return response.status_code == 204


# The views that record decisions. The site bucket is checked before the view runs, but a request takes
# from it only once it stored a decision.
decision_writes = WriteLimits(
    "CONSENT_RATELIMIT_CLIENT", "Too many decisions from this address; try again later.",
    "CONSENT_RATELIMIT_SITE", "Too many decisions for this site right now; try again later.", stored,
)
client_writes = WriteLimits("CONSENT_RATELIMIT_CLIENT", "Too many decisions from this address; try again later.")

# The banner's anonymous marks (consent/visitor/funnel.py) have buckets of their own, so they never use up a
# visitor's decisions: per client, keyed on the client hash in the limiter's store alone (no table of ours
# holds it), and per site, which only stored marks take from, so one site's flood cannot grow the marks table
# without bound while requests refused for any reason cannot aim the cap at a site.
mark_writes = WriteLimits(
    "CONSENT_RATELIMIT_MARKS_CLIENT", "Too many banner marks from this address; try again later.",
    "CONSENT_RATELIMIT_MARKS_SITE", "Too many banner marks for this site right now; try again later.", mark_stored,
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
    if app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        app.extensions["consent.write_counters"] = LocalCounters()
