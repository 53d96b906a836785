"""Auditor accounts: created from the command line, scoped to sites, signed in by API token or password.

Only hashes are stored: the password with werkzeug.security, the API token (32 random bytes) as
SHA-256, which is enough for a secret that long and lets one indexed lookup find its owner.
A disabled auditor is refused everywhere (API, console sign-in, an open console session); a
reissued token replaces the old one at once; a new password or disabling ends every console session
(consent/accounts/sessions.py), so enabling the auditor again does not bring an old cookie back.
"""
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from consent.accounts import sessions
from consent.accounts.passwords import hash_password, password_matches, token_hash
from consent.errors import Forbidden, InvalidRequest, NotFound
from consent.schemas import AUDITOR_PASSWORD, AuditorAccountSchema, load
from consent.sites.configs import get_site
from consent.storage import db
from consent.storage.models import Auditor, AuditorSite


def create_auditor(session, email, site_ids, password=None):
    """Store a new auditor for `site_ids`; returns (auditor, api_token, password), shown once and never again."""
    data = load(AuditorAccountSchema(), {"email": email, "sites": list(site_ids), "password": password})
    for site_id in data["sites"]:
        get_site(session, site_id)
    if session.scalar(select(Auditor.id).where(Auditor.email == data["email"])) is not None:
        raise InvalidRequest(f"An auditor {data['email']!r} exists already.", {"email": ["Taken."]})
    password = data["password"] or secrets.token_urlsafe(12)
    api_token = secrets.token_urlsafe(32)
    auditor = Auditor(
        email=data["email"],
        password_hash=hash_password(password),
        token_hash=token_hash(api_token),
        sites=[AuditorSite(site_id=site_id) for site_id in sorted(set(data["sites"]))],
    )
    session.add(auditor)
    session.flush()
    return auditor, api_token, password


def by_token(session, api_token):
    """The enabled auditor holding this API token, or None."""
    if not api_token:
        return None
    return session.scalars(
        select(Auditor).where(Auditor.token_hash == token_hash(api_token), Auditor.disabled_at.is_(None))
    ).first()


def by_id(session, auditor_id):
    """The enabled auditor with this id (a console session's), or None."""
    auditor = session.get(Auditor, auditor_id) if isinstance(auditor_id, int) else None
    return auditor if auditor is not None and auditor.disabled_at is None else None


def by_password(session, email, password):
    """The auditor with this email and password, or None; as slow for an unknown email as for a known one."""
    auditor = _with_email(session, email)
    if not password_matches(auditor, password) or auditor.disabled_at is not None:
        return None
    return auditor


def by_email(session, email):
    """The auditor with this email, disabled or not; NotFound otherwise."""
    auditor = _with_email(session, email)
    if auditor is None:
        raise NotFound(f"No auditor {email!r}.")
    return auditor


def _with_email(session, email):
    email = (email or "").strip().lower()
    if not db.storable(email):
        return None
    return session.scalars(select(Auditor).where(Auditor.email == email)).first()


def list_auditors(session):
    return session.scalars(select(Auditor).order_by(Auditor.email)).all()


def set_disabled(session, email, disabled):
    """Disable an auditor (refused everywhere from the next request on) or enable it again."""
    auditor = by_email(session, email)
    auditor.disabled_at = (auditor.disabled_at or datetime.now(UTC)) if disabled else None
    if disabled:
        sessions.end_everywhere(auditor)
    return auditor


def set_password(session, email, password):
    """Give an auditor a new console password; every console session they have ends."""
    auditor = by_email(session, email)
    rule = AUDITOR_PASSWORD
    if not rule.min <= len(password or "") <= rule.max:
        raise InvalidRequest(f"The password must be {rule.min}-{rule.max} characters.")
    auditor.password_hash = hash_password(password)
    sessions.end_everywhere(auditor)
    return auditor


def reissue_token(session, email):
    """Give an auditor a new API token; the old one stops working. Returns the new token, shown once."""
    auditor = by_email(session, email)
    api_token = secrets.token_urlsafe(32)
    auditor.token_hash = token_hash(api_token)
    return api_token


def require_site(auditor, site_id):
    """Refuse (403) unless the auditor was given this site. Unknown sites are refused the same way."""
    if site_id not in auditor.site_ids:
        raise Forbidden(f"This auditor account may not inspect site {site_id!r}.")
