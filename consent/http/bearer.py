"""Bearer-token APIs (site backends, auditors): reading the token and answering with the scheme named."""
from flask import request


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
