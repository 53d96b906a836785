"""Errors the service raises on purpose, and the one place that turns any error into a response.

API paths answer with RFC 9457 problem details (`application/problem+json`); pages for people
answer with a readable HTML page in the visitor's language.
"""
from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class ConsentError(Exception):
    """Base of every refusal; carries the HTTP status, a short title and optional field errors."""

    status = 400
    title = "Bad request"

    def __init__(self, detail, errors=None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class InvalidRequest(ConsentError):
    status = 422
    title = "Invalid request"


class NotFound(ConsentError):
    status = 404
    title = "Not found"


class OriginNotAllowed(ConsentError):
    status = 403
    title = "Origin not allowed"


class Unauthorized(ConsentError):
    status = 401
    title = "Unauthorized"


class Forbidden(ConsentError):
    status = 403
    title = "Forbidden"


class StalePolicyVersion(ConsentError):
    status = 409
    title = "Stale policy version"

    @classmethod
    def between(cls, asked, current):
        """The refusal of a decision made under policy version `asked` while `current` is in force."""
        return cls(f"Policy version {asked!r} is not the current one ({current!r}); "
                   "show the visitor the current policy and ask again.")


class ChainBroken(ConsentError):
    """The hash chain does not verify, so nothing may vouch for it (a checkpoint, for one)."""

    status = 409
    title = "Chain broken"


class SigningKeyMissing(ConsentError):
    status = 500
    title = "Signing key missing"


def problem_response(status, title, detail, errors=None):
    """A problem-details JSON response; `errors` maps fields to their messages."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
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
        return problem_response(error.status, error.title, error.detail, error.errors)
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
