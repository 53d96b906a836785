"""Errors the service raises on purpose, and the one place that turns any error into a response.

API paths answer with RFC 9457 problem details (`application/problem+json`); pages for people
answer with a readable HTML page in the visitor's language.
"""
from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from consent.http.links import public_url

# What a client should do with a refused request: send it again later, ask the visitor again (what
# they decided on no longer stands), or drop it (sending it again can never succeed).
RETRY, ASK_AGAIN, DROP = "retry", "ask_again", "drop"


class ConsentError(Exception):
    """Base of every refusal; carries the HTTP status, a short title, optional field errors, and its
    problem type (`slug`, under /api/v1/problems/) with what a client should do about it (`action`)."""

    status = 400
    title = "Bad request"
    slug = "bad-request"
    action = DROP

    def __init__(self, detail, errors=None, itemized=False):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        # True when `detail` already says each of `errors` in a sentence, one a line (a site configuration's,
        # consent/sites/config_errors.py): people are shown the detail alone, programs still read `errors`.
        self.itemized = itemized


class InvalidRequest(ConsentError):
    slug = "invalid-request"
    status = 422
    title = "Invalid request"


class NotFound(ConsentError):
    slug = "not-found"
    status = 404
    title = "Not found"


class OriginNotAllowed(ConsentError):
    slug = "origin-not-allowed"
    status = 403
    title = "Origin not allowed"


class Unauthorized(ConsentError):
    slug = "unauthorized"
    status = 401
    title = "Unauthorized"


class Forbidden(ConsentError):
    slug = "forbidden"
    status = 403
    title = "Forbidden"


class StalePolicyVersion(ConsentError):
    status = 409
    title = "Stale policy version"
    slug = "stale-policy-version"
    action = ASK_AGAIN

    @classmethod
    def between(cls, asked, current):
        """The refusal of a decision made under policy version `asked` while `current` is in force."""
        return cls(f"Policy version {asked!r} is not the current one ({current!r}); "
                   "show the visitor the current policy and ask again.")


class ChainBroken(ConsentError):
    """The hash chain does not verify, so nothing may vouch for it (a checkpoint, for one)."""

    status = 409
    title = "Chain broken"
    slug = "chain-broken"


class SigningKeyMissing(ConsentError):
    status = 500
    title = "Signing key missing"
    slug = "signing-key-missing"
    action = RETRY


class IdempotencyConflict(ConsentError):
    """An idempotency key sent again with another request: nothing is recorded or handed out."""

    status = 409
    title = "Idempotency key reused"
    slug = "idempotency-key-reused"


class DecisionTooOld(ConsentError):
    """A grant decided too long ago to trust the visitor's clock (it could undo a withdrawal), or already expired."""

    status = 422
    title = "Decision too old"
    slug = "decision-too-old"
    action = ASK_AGAIN


class SubjectNotProven(ConsentError):
    """A request that only makes sense for a proven user came without a valid subject token."""

    status = 403
    title = "Subject not proven"
    slug = "subject-not-proven"


class GuardianNotExpected(ConsentError):
    """A guardian's decision for a site without an age gate, or for a user whose latest decision is no minor's."""

    status = 409
    title = "No guardian expected"
    slug = "guardian-not-expected"


class SiteChanged(ConsentError):
    """The site's configuration changed twice while this decision was being recorded: nothing was stored."""

    status = 409
    title = "Site changed"
    slug = "site-changed"
    action = RETRY


class StatisticsOff(ConsentError):
    """The site turned its banner statistics off (banner_statistics: false): its widget sends no marks."""

    status = 403
    title = "Banner statistics off"
    slug = "statistics-off"


# Problem types of refusals Werkzeug and the rate limits (consent/http/limits.py) raise, by status.
HTTP_PROBLEMS = {413: ("too-large", DROP), 429: ("rate-limited", RETRY)}


def problem_types():
    """{slug: (title, action, description)} of every problem type the API answers with."""
    types = {cls.slug: (cls.title, cls.action, (cls.__doc__ or cls.title).split("\n")[0])
             for cls in _subclasses(ConsentError)}
    types["too-large"] = ("Request too large", DROP, "The body is larger than this endpoint takes.")
    types["rate-limited"] = ("Too many requests", RETRY, "Send it again after Retry-After seconds.")
    types["server-error"] = ("Server error", RETRY, "Something failed on our side; send it again later.")
    return types


def _subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def problem_response(status, title, detail, errors=None, slug=None, action=None):
    """A problem-details JSON response; `errors` maps fields to their messages.

    `type` names the refusal (one per kind, see problem_types) and `action` tells a client such as
    the widget what to do with what it sent: retry, ask the visitor again, or drop it.
    """
    if slug is None:
        slug, action = HTTP_PROBLEMS.get(status, ("server-error", RETRY) if status >= 500 else ("bad-request", DROP))
    body = {"type": public_url("api.problem_type", slug=slug), "title": title, "status": status, "detail": detail,
            "action": action}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def wants_json():
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def handle_consent_error(error):
    if wants_json():
        return problem_response(error.status, error.title, error.detail, error.errors, error.slug, error.action)
    return render_template("error.html", status=error.status, title=error.title, detail=error.detail), error.status


def handle_http_exception(error):
    if error.response is not None:  # the page was made where the refusal was decided (a sign-in limit)
        return error.response
    if wants_json():
        return problem_response(error.code, error.name, error.description)
    return render_template("error.html", status=error.code, title=error.name, detail=error.description), error.code


def init_app(app):
    app.register_error_handler(ConsentError, handle_consent_error)
    app.register_error_handler(HTTPException, handle_http_exception)
