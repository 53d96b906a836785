"""Per-site API keys for site backends: random tokens, stored only as SHA-256, shown once, revocable."""
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from consent.accounts.passwords import token_hash
from consent.errors import Forbidden, NotFound, Unauthorized
from consent.storage.operations import ApiKey

# "csk_" (consent site key) + 8 visible characters + "_" + the secret part.
TOKEN_PREFIX = "csk_"
VISIBLE_PREFIX = re.compile(r"csk_[0-9a-f]{8}")


def create_key(session, site_id, label):
    """Store a new key for `site_id`; returns (ApiKey, token). The token is never stored or shown again."""
    visible = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{visible}_{secrets.token_urlsafe(32)}"
    key = ApiKey(site_id=site_id, prefix=f"{TOKEN_PREFIX}{visible}", token_hash=token_hash(token), label=label)
    session.add(key)
    session.flush()
    return key, token


def list_keys(session, site_id):
    return session.scalars(select(ApiKey).where(ApiKey.site_id == site_id).order_by(ApiKey.id)).all()


def revoke_key(session, site_id, prefix):
    """Revoke the key of `site_id` that starts with `prefix`; revoking twice changes nothing."""
    key = None
    if VISIBLE_PREFIX.fullmatch(prefix):
        key = session.scalars(select(ApiKey).where(ApiKey.site_id == site_id, ApiKey.prefix == prefix)).first()
    if key is None:
        raise NotFound(f"Site {site_id!r} has no API key {prefix!r}.")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
    return key


def authorize(session, token, site_id):
    """The key a bearer token is, checked against `site_id`.

    No or unknown or revoked token: Unauthorized (401). A valid key of another site: Forbidden (403),
    whether or not `site_id` exists, so a key cannot be used to probe which sites are configured.
    """
    if not token:
        raise Unauthorized("Send the site's API key as `Authorization: Bearer <key>`.")
    key = session.scalars(select(ApiKey).where(ApiKey.token_hash == token_hash(token))).first()
    if key is None or key.revoked_at is not None:
        raise Unauthorized("This API key is unknown or revoked.")
    if key.site_id != site_id:
        raise Forbidden("This API key belongs to another site.")
    return key
