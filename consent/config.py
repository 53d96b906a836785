"""Configuration: safe defaults, overridden from the environment, overridden by the caller."""
import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path

LANGUAGES = ("zh-CN", "en")


def defaults():
    """Settings every deployment starts from; each is documented in docs/settings.md."""
    return {
        # The instance folder: what a host keeps of its own where the settings below name no other place (the
        # SQLite database, the generated secret key, the signing keys, the checkpoint file). None means the
        # project's `instance/`; servers sharing one checkout (the two hosts of tests/test_multi_host.py) each
        # need their own.
        "CONSENT_INSTANCE_PATH": None,
        # None means "a SQLite file in the instance folder", resolved once the instance path is known.
        "DATABASE_URL": None,
        # Largest request body anywhere; the consent endpoint has its own, smaller limit below.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "CONSENT_MAX_BODY_BYTES": 16 * 1024,
        # Largest site configuration file `flask consent site import` reads (consent/sites/configs.py).
        "CONSENT_MAX_SITE_FILE_BYTES": 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).resolve().parent.parent / "translations"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A console session (admin or auditor) ends this long after sign-in, and at sign-out everywhere
        # (consent/accounts/sessions.py); the cookie also gets `Secure` when CONSENT_PUBLIC_URL is https.
        "CONSENT_SESSION_MAX_AGE_SECONDS": 8 * 3600,
        # Abuse resistance (consent/http/limits.py). Limits are per worker process with memory://; give
        # every worker one shared store (redis://) to make them exact across workers.
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        # One client address may record this many decisions; many visitors can share one address (NAT).
        "CONSENT_RATELIMIT_CLIENT": "60 per minute",
        # All visitors of one site together, so one site's flood cannot starve the others.
        "CONSENT_RATELIMIT_SITE": "6000 per minute",
        # The banner's anonymous marks (shown, decided), per client address and per site: buckets of their own.
        "CONSENT_RATELIMIT_MARKS_CLIENT": "120 per minute",
        "CONSENT_RATELIMIT_MARKS_SITE": "6000 per minute",
        # Everything else (widget config, receipts, pages), per client address.
        "CONSENT_RATELIMIT_READS": "600 per minute",
        # Sign-in attempts on the admin and auditor consoles together, per client address.
        "CONSENT_RATELIMIT_SIGN_IN": "10 per minute",
        # Reverse proxies in front of the app whose X-Forwarded-For is trusted; 0 trusts none.
        "CONSENT_PROXY_HOPS": 0,
        # One line per request with the route, status, duration and the keyed client hash.
        "CONSENT_REQUEST_LOG": True,
        # Ed25519 private keys, one PEM file per key id, owner-only; None means `instance/keys`.
        "CONSENT_KEY_DIR": None,
        # How long a worker signs with the key it knows before asking which key is the newest: a
        # rotation reaches every worker within this time (retired keys still verify).
        "CONSENT_KEY_RECHECK_SECONDS": 1.0,
        # A signed checkpoint (tree head) is published automatically every this many events of a site.
        "CONSENT_CHECKPOINT_EVERY": 1000,
        # ... and when a decision is written and the site's newest one is older than this (0: never),
        # so a quiet site's newest events are not left unpinned for long.
        "CONSENT_CHECKPOINT_INTERVAL_SECONDS": 3600,
        # Every checkpoint signed is appended here too, outside the database; None means
        # `instance/checkpoints.jsonl`, "" appends nowhere (consent/ledger/checkpoints.py, README "For auditors").
        "CONSENT_CHECKPOINT_FILE": None,
        # The one public URL (scheme://host[:port]) of this service: every signed or shown link is made
        # from it, never from the request's Host header, which whoever sends the request chooses.
        "CONSENT_PUBLIC_URL": "http://127.0.0.1:5000",
        # Subject tokens (README, "Identifying your users"): how far ahead a token may expire, and how
        # long after expiry it still proves its subject for a withdrawal queued while it was fresh.
        "CONSENT_SUBJECT_TOKEN_MAX_LIFETIME_SECONDS": 30 * 24 * 3600,
        "CONSENT_SUBJECT_TOKEN_GRACE_SECONDS": 7 * 24 * 3600,
        # How much older than its arrival a decision's own clock may say it is and still be ordered by
        # that clock; older grants are refused (they could override a later withdrawal).
        "CONSENT_DECISION_MAX_AGE_SECONDS": 30 * 24 * 3600,
        # Lifetimes of the visitor's links: a receipt's access token, and the link to their history.
        "CONSENT_RECEIPT_TOKEN_MAX_AGE_SECONDS": 365 * 24 * 3600,
        "CONSENT_HISTORY_LINK_MAX_AGE_SECONDS": 3600,
        # Webhooks: per-POST timeout, tries before giving up, first retry delay (doubling each time).
        "WEBHOOK_TIMEOUT_SECONDS": 5,
        "WEBHOOK_MAX_ATTEMPTS": 8,
        "WEBHOOK_BACKOFF_SECONDS": 30,
        # Webhooks go only to https URLs of public addresses (no SSRF into our own network); True also
        # allows http and loopback/private addresses, for development and tests only.
        "CONSENT_WEBHOOK_ALLOW_PRIVATE": False,
        # The compliance scanner (consent/scanner/): pages per scan at most, seconds per page load and per
        # scan, and the Chromium it drives.
        "CONSENT_SCAN_MAX_PAGES": 20,
        "CONSENT_SCAN_PAGE_SECONDS": 20,
        "CONSENT_SCAN_MAX_SECONDS": 600,
        "CONSENT_SCAN_CHROMIUM": "/usr/bin/chromium",
        # Addresses or networks a scan may reach although not public ("127.0.0.1/32"): development and
        # tests only; a scan reaches public addresses only otherwise.
        "CONSENT_SCAN_ALLOW_PRIVATE": "",
        # Statistics (consent/stats/): a count from 1 to this less one is shown as "< this" in the console's
        # tables by language and by version and in under-age counts, so a cell never singles out a few visitors.
        "CONSENT_STATS_MIN_CELL": 10,
    }


FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _flag(value):
    """A flag's text: one of the usual spellings of yes or no; anything else is refused, not read as no."""
    try:
        return FLAG_WORDS[value.strip().lower()]
    except KeyError:
        raise ValueError(value) from None


# Settings with no default above that the environment may still give.
ENVIRONMENT_ONLY = {"SECRET_KEY": str}


def _conversion(default):
    """How to read a setting's text from the environment, by the type of its default (text when None)."""
    if isinstance(default, bool):  # before int: a bool is an int too
        return _flag
    if isinstance(default, (int, float)):
        return type(default)
    return str


def environment_settings():
    """{name: conversion} of every setting the environment can set: every default, and SECRET_KEY."""
    return {**{name: _conversion(default) for name, default in defaults().items()}, **ENVIRONMENT_ONLY}


def from_environment():
    """Settings taken from environment variables; only those that are set.

    A value that cannot be read as its setting's type stops the app with a sentence naming it.
    """
    settings = {}
    for name, convert in environment_settings().items():
        text = os.environ.get(name)
        if not text:
            continue
        try:
            settings[name] = convert(text)
        except ValueError:
            kind = {int: "a whole number", float: "a number", _flag: "true or false (or 1/0, yes/no, on/off)"}[convert]
            raise RuntimeError(f"The environment sets {name}={text!r}, which is not {kind}.") from None
    # Old keys stay valid for verifying what they signed: comma-separated, oldest first.
    if os.environ.get("SECRET_KEY_FALLBACKS"):
        settings["SECRET_KEY_FALLBACKS"] = os.environ["SECRET_KEY_FALLBACKS"].split(",")
    return settings


def fill_instance_defaults(app):
    """Give the app its instance folder, a secret key and a database URL, creating both in that folder if unset.

    The folder is CONSENT_INSTANCE_PATH when set (a relative one from the working directory), else the
    project's `instance/`. The generated key lives in `instance/secret_key` (git-ignored) so that receipts
    signed before a restart still verify after it.
    """
    if app.config.get("CONSENT_INSTANCE_PATH"):
        app.instance_path = os.path.abspath(app.config["CONSENT_INSTANCE_PATH"])
    if not app.config.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'consent.sqlite3'}"
    if not app.config.get("CONSENT_KEY_DIR"):
        app.config["CONSENT_KEY_DIR"] = str(Path(app.instance_path) / "keys")
    if app.config.get("SECRET_KEY"):
        return
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        _create_key_file(key_file)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _create_key_file(key_file):
    """Write a new key where several workers starting at once may race: exactly one key wins, whole.

    The key is written to a private temporary file first and then linked into place, which fails
    if another worker got there first; nobody ever reads a half-written key.
    """
    key_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    # Owner-only permissions from the start, before the key is written into it.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, key_file)
    except FileExistsError:
        pass  # another worker's key is in place: use that one
    finally:
        temporary.unlink(missing_ok=True)


def derived_hmac(secret_key, purpose, message):
    """HMAC-SHA256 of `message` under a key derived from SECRET_KEY for one `purpose` (hex).

    One key per purpose, so a hash made for one use (client addresses, erased subjects) can never
    be matched against a hash made for another.
    """
    mac = _keyed_mac(secret_key, purpose).copy()
    mac.update(message.encode())
    return mac.hexdigest()


@functools.lru_cache(maxsize=64)  # a few purposes, times the keys in rotation; five uses a decision
def _keyed_mac(secret_key, purpose):
    """An HMAC under the purpose's key, keyed once: copying it costs less than keying a new one."""
    return hmac.new(hashlib.sha256(purpose + secret_key.encode()).digest(), digestmod=hashlib.sha256)
