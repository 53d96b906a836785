"""Console sessions (admin and auditor consoles): begun at sign-in, ended on the server.

The session cookie (Flask's, signed with SECRET_KEY) holds who signed in, the user's session
generation at that moment and the time. The generation is stored with the user and raised at
sign-out, at a password change and when an auditor is disabled: every cookie issued before, a copy
taken before sign-out included, opens nothing from its next request on. A session also ends
CONSENT_SESSION_MAX_AGE_SECONDS after sign-in, and the cookie itself lasts only as long as the browser.

A generation rather than a table of sessions: it is one integer on the row each console request
loads anyway, with nothing to write per request and nothing to expire or clean up. The price is that
signing out ends that user's sessions in every browser, which is also what one wants after a
cookie may have been copied.
"""
import time

from flask import current_app, session
from flask.sessions import SecureCookieSessionInterface

from consent.storage.db import write_transaction

API_PREFIX = "/api/"


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its signer built once per keys instead of at every request.

    Flask builds it anew for each request, console or not: 0.04 ms of every decision (issue 18).
    """

    def get_signing_serializer(self, app):
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cache = app.extensions.setdefault("consent.session_serializers", {})
        if keys not in cache:
            cache[keys] = super().get_signing_serializer(app)
        return cache[keys]

    def open_session(self, app, request):
        # The API never reads the consoles' cookie (its callers prove themselves with bearer tokens or the
        # credentials in their bodies): its requests get Flask's null session, which cannot be written.
        # That also spares every decision parsing a cookie header: 0.05 ms of it (issue 18).
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def begin(console, user):
    """Sign `user` in to `console` ("admin" or "auditor") in a fresh session: nothing set before carries over."""
    session.clear()  # no fixation: a session planted before sign-in is not the one signed in
    session[console] = {"id": user.id, "generation": user.session_generation, "since": int(time.time())}


def current_user(console, load):
    """The user whose session this is, or None: none, ended on the server, or older than allowed.

    `load(user_id)` finds the user (None for an unknown or disabled one).
    """
    held = session.get(console)
    if not isinstance(held, dict):
        return None
    age = time.time() - held.get("since", 0)
    user = load(held.get("id")) if 0 <= age <= current_app.config["CONSENT_SESSION_MAX_AGE_SECONDS"] else None
    if user is None or user.session_generation != held.get("generation"):
        session.pop(console, None)  # tell the browser to drop it
        return None
    return user


def end_everywhere(user):
    """End every console session `user` has (call inside a write transaction): raise the generation."""
    user.session_generation = (user.session_generation or 0) + 1


def sign_out(console, model):
    """End the session of this request's user on the server, everywhere, then clear this browser's cookie."""
    held = session.get(console)
    if isinstance(held, dict) and isinstance(held.get("id"), int):
        with write_transaction() as db_session:
            user = db_session.get(model, held["id"])
            # A stale cookie's sign-out changes nothing: its sessions have ended already.
            if user is not None and user.session_generation == held.get("generation"):
                end_everywhere(user)
    session.clear()
