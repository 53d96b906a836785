"""CSRF protection for every form post of the consoles; the JSON APIs under /api/ are exempt.

The APIs authenticate by a token sent deliberately (or are public), never by a cookie, so a
forged cross-site request gains nothing there; the consoles sign in with a cookie and need it.
Checking by path rather than by blueprint keeps every future console blueprint covered.
"""
from flask import request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def protect_forms():
    if request.method in UNSAFE_METHODS and not request.path.startswith("/api/"):
        csrf.protect()


def init_app(app):
    # WTF_CSRF_CHECK_DEFAULT is False (consent/config.py): this hook decides instead.
    csrf.init_app(app)
    app.before_request(protect_forms)
