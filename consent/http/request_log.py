"""Request logs that hold no raw IP address, subject id or receipt token: routes and a keyed client hash.

Each request is logged as its route pattern (`/api/v1/receipts/<receipt_id>`), never the path
itself, whose segments and query may name a person; the client is the keyed hash of its address
(consent/http/clients.py). The development server's own request lines are rewritten the same way.
Routes marked `anonymous` (the banner's statistics marks) are logged without even that hash: `client=-`.
"""
import logging
import re
import time

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from consent.http.clients import client_hash, current_client_hash

request_log = logging.getLogger("consent.requests")
# The development server's lines: `ADDRESS - - [date] MESSAGE`; a request's MESSAGE is `"%s" %s %s`.
DEV_SERVER_LINE = re.compile(r"^(?P<address>\S+) - - (?P<date>\[[^\]]*\]) (?P<message>.*)$", re.DOTALL)
REQUEST_MESSAGE = '"%s" %s %s'
TERMINAL_STYLES = re.compile(r"\x1b\[[0-9;]*m")
ANY_PATH = re.compile(r"/\S*")


NO_CLIENT = "-"


def anonymous(view):
    """Mark a view whose requests are logged without their client: not even its keyed hash."""
    view.anonymous_client = True
    return view


def is_anonymous(app, endpoint):
    return getattr(app.view_functions.get(endpoint), "anonymous_client", False)


def rule_of(app, method, path):
    """The route a path matches (no ids, no query), or None when it matches none."""
    try:
        rule, _args = app.url_map.bind("localhost").match(path.split("?", 1)[0], method=method, return_rule=True)
    except HTTPException:
        return None
    return rule


def route_of(app, method, path):
    """The route pattern a path matches, or "-" when it matches none."""
    rule = rule_of(app, method, path)
    return rule.rule if rule else "-"


def start_timer():
    g.request_started = time.perf_counter()


def log_request(response):
    if "request_started" in g:
        elapsed_ms = (time.perf_counter() - g.request_started) * 1000
        rule = request.url_rule.rule if request.url_rule else "-"
        client = NO_CLIENT if is_anonymous(current_app, request.endpoint) else current_client_hash()
        request_log.info("%s %s %s %.1fms client=%s", request.method, rule, response.status_code, elapsed_ms, client)
    return response


class DevServerRedaction(logging.Filter):
    """Rewrites werkzeug's lines: the address becomes its keyed hash, a request path its route pattern."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def filter(self, record):
        match = DEV_SERVER_LINE.match(str(record.msg))
        if not match:
            return True
        with self.app.app_context():
            prefix = f"client={client_hash(match['address'])} - - {match['date']}"
        if match["message"] == REQUEST_MESSAGE and len(record.args) == 3:
            method, path, protocol = (TERMINAL_STYLES.sub("", str(record.args[0])).split(" ") + ["", "", ""])[:3]
            rule = rule_of(self.app, method, path)
            if rule is not None and is_anonymous(self.app, rule.endpoint):
                prefix = f"client={NO_CLIENT} - - {match['date']}"
            record.msg = f'{prefix} "%s %s %s" %s %s'
            record.args = (method, rule.rule if rule else "-", protocol, *record.args[1:])
        else:
            # Anything else (a refused request line, say) may quote a path: keep none of it.
            try:
                message = match["message"] % record.args if record.args else match["message"]
            except (TypeError, ValueError):
                message = match["message"]
            record.msg = f"{prefix} {ANY_PATH.sub('/...', message)}"
            record.args = ()
        return True


def init_app(app):
    werkzeug_log = logging.getLogger("werkzeug")
    for earlier in [f for f in werkzeug_log.filters if isinstance(f, DevServerRedaction)]:
        werkzeug_log.removeFilter(earlier)  # the filter of an app created before this one
    werkzeug_log.addFilter(DevServerRedaction(app))
    if app.config["CONSENT_REQUEST_LOG"]:
        request_log.setLevel(logging.INFO)
        app.before_request(start_timer)
        app.after_request(log_request)
