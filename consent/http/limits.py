"""Rate limits per client address and per site; a refusal is a 429 (a problem, or a page for people) with Retry-After.

Clients are keyed on the keyed hash of their address (consent/http/clients.py), so not even the
limit store (which may be a shared Redis) ever holds a raw IP address. The consoles' sign-in
forms have their own limit against password guessing, refused with a readable page.

Every attempt counts against the client that sent it, refused ones included. A site's bucket counts
only decisions the service stored: a request refused for any reason (another site's origin, an
invalid body, an unknown purpose, a stale policy, the sender's own limit) or a repeated one (same
idempotency key) cannot use up a site's allowance, so nobody can aim the site limit at a site
without sending valid decisions from many addresses (README, "Threat model").

The limits are the `limits` library's rate strings and fixed windows, counted in this worker
(consent/http/local_counters.py) for memory:// or in the shared store RATELIMIT_STORAGE_URI names
(Redis), which fails open when it cannot be reached (local_counters.SharedCounters says why).
Flask-Limiter did this before issue 18: resolving, parsing and keying every limit again at every
request, it cost each decision 0.6 ms, a third of the decision's own work.
"""
import functools
import logging
import math
import time

from flask import abort, current_app, g, make_response, render_template, request
from flask_babel import gettext
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from consent.errors import handle_http_exception
from consent.http.clients import current_client_hash
from consent.http.local_counters import LocalCounters, SharedCounters
from consent.schemas import SITE_ID_PATTERN

limits_log = logging.getLogger("consent.limits")
READS = "reads"  # the bucket of every request without limits of its own


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


class WriteLimits:
    """The client and (optional) site buckets of an endpoint that writes, in place of the read limit.

    The client bucket takes every attempt, refused ones included; the site bucket is tested before the
    view and taken from only when `stored(response)`.
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
            client_limit = _parsed(config[self.client_setting])
            _take(client_limit, (request.endpoint, client_key()), self.client_message)
            if self.site_setting:
                site_limit, site = _parsed(config[self.site_setting]), (request.endpoint, site_key())
                if not _counters().test(site_limit, *site):
                    _refuse(site_limit, site, self.site_message)
            response = current_app.make_response(view(**kwargs))
            if self.site_setting and self.stored(response):
                _counters().hit(site_limit, *site)
            return response

        limited.own_rate_limits = True  # the read limit does not apply (check_reads)
        return limited


def sign_in_attempts(view):
    """The admin and auditor sign-in POSTs, per client, in one bucket: guessing on both consoles counts once.

    Every attempt counts, right or wrong; the read limit applies on top. A refusal is a page, in the
    person's language.
    """
    @functools.wraps(view)
    def limited(**kwargs):
        if current_app.config["RATELIMIT_ENABLED"] and request.method == "POST":
            _take(_parsed(current_app.config["CONSENT_RATELIMIT_SIGN_IN"]), ("sign-in", client_key()),
                  gettext("Too many sign-in attempts from this address. Wait a minute, then try again."),
                  title=gettext("Too many sign-in attempts"))
        return view(**kwargs)

    return limited


def check_reads():
    """The read limit, before every request but the static files (a CDN or the browser cache absorbs the
    widget script) and the views with limits of their own."""
    if not current_app.config["RATELIMIT_ENABLED"] or request.endpoint in (None, "static"):
        return
    if getattr(current_app.view_functions.get(request.endpoint), "own_rate_limits", False):
        return
    _take(_parsed(current_app.config["CONSENT_RATELIMIT_READS"]), (READS, client_key()),
          "Too many requests from this address; try again later.")


def add_limit_headers(response):
    """X-RateLimit-Limit, -Remaining and -Reset of the client bucket this request took from, if any."""
    counted = g.pop("rate_limit", None)
    if counted is not None and current_app.config["RATELIMIT_HEADERS_ENABLED"]:
        limit, bucket = counted
        reset, remaining = _counters().window(limit, *bucket)
        # Added: a request takes from one client bucket, so nothing set them before (setting scans for each).
        response.headers.extend((("X-RateLimit-Limit", str(limit.amount)), ("X-RateLimit-Remaining", str(remaining)),
                                 ("X-RateLimit-Reset", str(int(reset)))))
    return response


@functools.lru_cache(maxsize=64)
def _parsed(text):
    return parse(text)


def _counters():
    return current_app.extensions["consent.rate_counters"]


def _take(limit, bucket, message, title=None):
    """Count one attempt in `bucket`; refuse the request when it is over `limit`."""
    if not _counters().hit(limit, *bucket):
        _refuse(limit, bucket, message, title)
    g.rate_limit = (limit, bucket)


def _refuse(limit, bucket, message, title=None):
    """Answer 429 with Retry-After: a problem for the APIs, a page for people (with `title`, the sign-in page's).

    The log line names the limit and the bucket's kind, never its key (the client hash).
    """
    limits_log.info("rate limit %s exceeded for %s", limit, bucket[0])
    if title is None:
        response = make_response(handle_http_exception(TooManyRequests(message)))
    else:
        response = make_response(render_template("error.html", status=429, title=title, detail=message), 429)
    if current_app.config["RATELIMIT_HEADERS_ENABLED"]:
        reset = _counters().window(limit, *bucket)[0]
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
# visitor's decisions: per client, keyed on the client hash in the limits' store alone (no table of ours
# holds it), and per site, which only stored marks take from, so one site's flood cannot grow the marks table
# without bound while requests refused for any reason cannot aim the cap at a site.
mark_writes = WriteLimits(
    "CONSENT_RATELIMIT_MARKS_CLIENT", "Too many banner marks from this address; try again later.",
    "CONSENT_RATELIMIT_MARKS_SITE", "Too many banner marks for this site right now; try again later.", mark_stored,
)


def counters_for(storage_uri):
    """This worker's counters for memory://, else a fixed-window strategy over the shared store."""
    if storage_uri.startswith("memory://"):
        return LocalCounters()
    return SharedCounters(FixedWindowRateLimiter(storage_from_string(storage_uri, **_store_options(storage_uri))))


def _store_options(storage_uri):
    """A limit check never holds a visitor up: one try of at most a quarter second, then SharedCounters lets the
    request through. (redis-py's default retries three times with up to 7 s of backoff.)"""
    if not storage_uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return {}
    from redis.backoff import NoBackoff  # noqa: PLC0415 - only deployments with Redis need the client loaded
    from redis.retry import Retry  # noqa: PLC0415

    return {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 0.25, "socket_timeout": 0.25}


def init_app(app):
    app.extensions["consent.rate_counters"] = counters_for(app.config["RATELIMIT_STORAGE_URI"])
    app.before_request(check_reads)
    app.after_request(add_limit_headers)
