"""Configuration: safe defaults, overridden from the environment, overridden by the caller."""
import os
import secrets
from pathlib import Path

LANGUAGES = ("zh-CN", "en")


def defaults():
    """Settings every deployment starts from; each is documented in README.md, "Configuration"."""
    return {
        # None means "a SQLite file in the instance folder", resolved once the instance path is known.
        "DATABASE_URL": None,
        # Largest request body anywhere; the consent endpoint has its own, smaller limit below.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "CONSENT_MAX_BODY_BYTES": 16 * 1024,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).resolve().parent.parent / "translations"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Ed25519 private keys, one PEM file per key id, owner-only; None means `instance/keys`.
        "CONSENT_KEY_DIR": None,
        # A signed checkpoint (tree head) is published automatically every this many events of a site.
        "CONSENT_CHECKPOINT_EVERY": 1000,
        # Webhooks: per-POST timeout, tries before giving up, first retry delay (doubling each time).
        "WEBHOOK_TIMEOUT_SECONDS": 5,
        "WEBHOOK_MAX_ATTEMPTS": 8,
        "WEBHOOK_BACKOFF_SECONDS": 30,
    }


def from_environment():
    """Settings taken from environment variables; only those that are set."""
    settings = {}
    if os.environ.get("DATABASE_URL"):
        settings["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if os.environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = os.environ["SECRET_KEY"]
    # Old keys stay valid for verifying what they signed: comma-separated, oldest first.
    if os.environ.get("SECRET_KEY_FALLBACKS"):
        settings["SECRET_KEY_FALLBACKS"] = os.environ["SECRET_KEY_FALLBACKS"].split(",")
    if os.environ.get("CONSENT_KEY_DIR"):
        settings["CONSENT_KEY_DIR"] = os.environ["CONSENT_KEY_DIR"]
    if os.environ.get("CONSENT_CHECKPOINT_EVERY"):
        settings["CONSENT_CHECKPOINT_EVERY"] = int(os.environ["CONSENT_CHECKPOINT_EVERY"])
    return settings


def fill_instance_defaults(app):
    """Give the app a secret key and a database URL, creating both in the instance folder if unset.

    The generated key lives in `instance/secret_key` (git-ignored) so that receipts signed
    before a restart still verify after it.
    """
    if not app.config.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'consent.sqlite3'}"
    if not app.config.get("CONSENT_KEY_DIR"):
        app.config["CONSENT_KEY_DIR"] = str(Path(app.instance_path) / "keys")
    if app.config.get("SECRET_KEY"):
        return
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # Create with owner-only permissions before writing the key into it.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    app.config["SECRET_KEY"] = key_file.read_text().strip()
