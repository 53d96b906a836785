"""What every answer carries and what the app refuses to start with: security headers, cookie
flags, and a strong SECRET_KEY in production.

Headers: strict CSP on our pages, nosniff everywhere, no referrers. The widget script is the one
thing meant for other sites: host pages load it with a plain <script> tag (no CORS needed), and it
stays loadable by pages that set Cross-Origin-Embedder-Policy.
"""
from datetime import timedelta

from flask import request

# Our own pages load only our own scripts, styles and API; only our own pages may frame them
# (the console previews the banner in frames of its own).
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
# JSON is never rendered as a document: should a browser try, it may do nothing at all.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000; includeSubDomains"


# The headers of each kind of answer, for add_security_headers.
EVERY_ANSWER = (("X-Content-Type-Options", "nosniff"),
                # Receipt links carry their access token in the query: never hand our URLs to another site.
                ("Referrer-Policy", "no-referrer"))
STATIC_FILE = EVERY_ANSWER + (("Cross-Origin-Resource-Policy", "cross-origin"),)
API_ANSWER = EVERY_ANSWER + (("Content-Security-Policy", API_POLICY),)
# Decisions and receipts name a person: no shared cache may keep them.
PERSONAL_API_ANSWER = API_ANSWER + (("Cache-Control", "no-store"),)
# Our pages show a visitor's receipt or history, an auditor's or an operator's console: no cache in between
# (a CDN in front, README "A deploy recipe") may keep one unless its view says so.
PAGE = EVERY_ANSWER + (("Content-Security-Policy", PAGE_POLICY), ("X-Frame-Options", "SAMEORIGIN"),
                       ("Cross-Origin-Opener-Policy", "same-origin"), ("Cross-Origin-Resource-Policy", "same-origin"),
                       ("Permissions-Policy", PERMISSIONS_POLICY), ("Cache-Control", "no-store"))


def add_security_headers(response):
    if request.endpoint == "static":
        wanted = STATIC_FILE
    elif request.path.startswith("/api/"):
        personal = request.method == "POST" or request.endpoint == "api.get_receipt"
        wanted = PERSONAL_API_ANSWER if personal else API_ANSWER
    else:
        wanted = PAGE
    if request.is_secure:
        wanted += (("Strict-Transport-Security", HSTS),)
    add_missing(response.headers, wanted)
    return response


def add_missing(headers, pairs):
    """Add each (name, value) of `pairs` whose name `headers` lacks: a view's own choice stands.

    One pass over the headers: `setdefault` scans them up to three times a header (issue 18).
    """
    present = {name.lower() for name in headers.keys()}
    for name, value in pairs:
        if name.lower() not in present:
            headers.add(name, value)


# --- The secret key ----------------------------------------------------------------------------

MIN_SECRET_KEY_LENGTH = 32
# Fewer different characters than this in 32 or more is a pattern ("aaaa...", "abcabc..."), not a secret.
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 10
# Keys that sample code, tutorials and our own tests use: known to everyone, whatever their length.
PLACEHOLDER_SECRET_KEYS = frozenset({
    "dev", "development", "secret", "secret-key", "secret_key", "secretkey", "my-secret-key", "your-secret-key",
    "change-me", "changeme", "change_me", "changethis", "please-change-me", "insecure", "test", "test-secret",
    "testing", "bench", "bench-secret-key", "screenshots", "default", "password", "flask", "consent", "x", "a",
    "replace-me", "replace-with-a-long-random-string", "change-me-to-a-long-random-string",
    "super-secret-key", "supersecretkey", "your-secret-key-here", "dev-secret-key", "development-key",
})
MAKE_A_KEY = ("Make a good one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'` and set it "
              "as SECRET_KEY on every worker, or leave SECRET_KEY unset on a single host to have one generated "
              "into instance/secret_key.")


class WeakSecretKey(RuntimeError):
    """The app is about to run in production with a SECRET_KEY anyone could guess; it refuses to start."""


def is_production(app):
    """Production is anything that is not debug (FLASK_DEBUG, `flask run --debug`) or testing (TESTING)."""
    return not (app.debug or app.testing)


def secret_key_weakness(key):
    """Why `key` is too weak to sign anything with, or None when it is fine."""
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key or "")
    if text.strip().lower() in PLACEHOLDER_SECRET_KEYS:
        return "is a well-known placeholder"
    if len(text) < MIN_SECRET_KEY_LENGTH:
        return f"is {len(text)} characters long; it needs at least {MIN_SECRET_KEY_LENGTH}"
    if len(set(text)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return f"repeats {len(set(text))} different characters; a random key has many more"
    return None


def refuse_weak_secret_keys(app):
    """In production, stop at startup if SECRET_KEY or one of SECRET_KEY_FALLBACKS is weak.

    SECRET_KEY signs console sessions, receipts and visitor links and keys the client hash: with a
    guessable key anyone could sign in to the consoles or forge those. Fallbacks still verify, so
    they are held to the same rule.
    """
    if not is_production(app):
        return
    named_keys = [("SECRET_KEY", app.config.get("SECRET_KEY"))]
    named_keys += [(f"SECRET_KEY_FALLBACKS[{number}]", key)
                   for number, key in enumerate(app.config.get("SECRET_KEY_FALLBACKS") or [])]
    for name, key in named_keys:
        weakness = secret_key_weakness(key)
        if weakness:
            raise WeakSecretKey(f"Refusing to start: {name} {weakness}. {MAKE_A_KEY}")


# --- Cookies ---------------------------------------------------------------------------------------


def set_cookie_flags(app):
    """The session cookie (console sign-in and the CSRF tokens of every form live in it): `Secure`
    whenever the service is served over HTTPS, and never accepted past the console session lifetime."""
    if app.config["CONSENT_PUBLIC_URL"].lower().startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    # Flask refuses a signed session cookie older than this, whatever the cookie itself claims.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=app.config["CONSENT_SESSION_MAX_AGE_SECONDS"])


def init_app(app):
    refuse_weak_secret_keys(app)
    set_cookie_flags(app)
    app.after_request(add_security_headers)
