"""What the JSON APIs read from a request: its JSON body, and the bearer token of the site and audit APIs."""
from flask import request

from consent.errors import InvalidRequest


def json_body(any_type=False):
    """The request's JSON body; InvalidRequest for anything else, however malformed.

    `any_type`: read whatever the Content-Type says (navigator.sendBeacon sends text/plain, which needs no
    CORS preflight).
    """
    try:
        payload = request.get_json(force=any_type, silent=True)
    except RecursionError:  # nesting deep enough to exhaust the parser
        payload = None
    if payload is None:
        raise InvalidRequest("The body must be a JSON object" +
                             ("." if any_type else " sent with Content-Type: application/json."))
    return payload


def bearer_token():
    """The token of the request's `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def protect_responses(blueprint, realm):
    """Name the scheme on every 401 of `blueprint` and keep its answers out of caches."""

    @blueprint.after_request
    def challenge_and_no_store(response):
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = f'Bearer realm="{realm}"'
        response.headers["Cache-Control"] = "no-store"
        return response
