"""Who a decision is by: a site's user proven by a subject token, or a visitor proven by their credential.

Nothing a browser claims is taken on its word:
- a user id counts only with a valid subject token, which only the site's backend can make
  (consent/subjects/tokens.py); without one the decision is recorded for the anonymous visitor;
- a visitor is known by a random credential their widget made and keeps; we store only a keyed
  hash of it (the visitor reference), so nothing we print or store lets anyone act as them.
README.md, "Identifying your users", has the threat model these checks answer.
"""
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, or_, select

from consent import clock
from consent.config import derived_hmac
from consent.errors import NotFound
from consent.storage.models import SUBJECTS, SubjectSecret
from consent.subjects import tokens

VISITOR_PURPOSE = b"consent.visitor"


@dataclass(frozen=True)
class SubjectCheck:
    """The outcome of checking a subject token: `subject_id` is set only when it is proven.

    `problem` says why an asked-for subject was not bound (None when it was, or none was asked):
    `subject_token_missing`, `subject_token_invalid` or `subject_token_expired`.
    """

    subject_id: str | None
    kid: str | None = None
    problem: str | None = None
    in_grace: bool = False  # expired, yet accepted for a withdrawal queued while the token was fresh


NOBODY = SubjectCheck(None)


def active_secrets(session, site_id, now=None):
    """{kid: secret} of the site's subject secrets that still verify."""
    now = now or clock.now()
    rows = session.execute(
        select(SubjectSecret.kid, SubjectSecret.secret).where(
            SubjectSecret.site_id == site_id,
            or_(SubjectSecret.retires_at.is_(None), SubjectSecret.retires_at > now),
        )
    )
    return dict(rows.all())


def check_subject(session, site_id, subject_id, token, now=None, withdrawal_only=None):
    """Whether `token` proves `subject_id` on `site_id`, as a SubjectCheck.

    An expired token still proves the subject within CONSENT_SUBJECT_TOKEN_GRACE_SECONDS when
    `withdrawal_only()` says the decision grants nothing the subject's current decision does not:
    a withdrawal queued offline must not be lost because the page's token aged meanwhile.
    A token valid for longer than CONSENT_SUBJECT_TOKEN_MAX_LIFETIME_SECONDS from now is refused,
    so a leaked token cannot be made to last.
    """
    if subject_id is None:
        return NOBODY
    if not token:
        return SubjectCheck(None, problem="subject_token_missing")
    parsed = tokens.parse(token)
    now = now or clock.now()
    secret = active_secrets(session, site_id, now).get(parsed.kid) if parsed else None
    config = current_app.config
    if (secret is None or not tokens.mac_matches(parsed, secret, site_id, subject_id)
            or parsed.expires > now.timestamp() + config["CONSENT_SUBJECT_TOKEN_MAX_LIFETIME_SECONDS"]):
        return SubjectCheck(None, problem="subject_token_invalid")
    if parsed.expires >= now.timestamp():
        return SubjectCheck(subject_id, parsed.kid)
    in_grace = now.timestamp() - parsed.expires <= config["CONSENT_SUBJECT_TOKEN_GRACE_SECONDS"]
    if in_grace and withdrawal_only is not None and withdrawal_only():
        return SubjectCheck(subject_id, parsed.kid, in_grace=True)
    return SubjectCheck(None, problem="subject_token_expired")


def visitor_refs(site_id, credential):
    """The visitor references a credential has had on a site: under SECRET_KEY and each fallback.

    The first is the one new events get; the others find what was stored before a key rotation.
    """
    config = current_app.config
    keys = [config["SECRET_KEY"], *reversed(config.get("SECRET_KEY_FALLBACKS") or [])]
    return [derived_hmac(key, VISITOR_PURPOSE, f"{site_id}\0{credential}") for key in keys]


def visitor_ref(site_id, credential):
    return visitor_refs(site_id, credential)[0]


def unlinkable_visitor_ref():
    """The reference of a visitor who proved nothing: random, so no later request can add to that history."""
    return uuid.uuid4().hex


# --- Managing a site's subject secrets (console and CLI) --------------------------------------


def create_secret(session, site_id):
    """A new subject secret for `site_id`, in force at once alongside any others."""
    secret = SubjectSecret(site_id=site_id, kid=tokens.new_kid(), secret=tokens.new_secret(),
                           created_at=clock.now())
    session.add(secret)
    session.flush()
    return secret


def rotate_secret(session, site_id, overlap_seconds):
    """Make a new secret and retire every other one after `overlap_seconds` (0: at once).

    The overlap lets pages and tokens already handed out keep working while the backend switches.
    """
    now = clock.now()
    retires_at = now + timedelta(seconds=overlap_seconds)
    for old in list_secrets(session, site_id):
        if old.retires_at is None or old.retires_at > retires_at:
            old.retires_at = retires_at
    return create_secret(session, site_id)


def list_secrets(session, site_id):
    """Every subject secret of a site that still verifies, newest first."""
    now = clock.now()
    return session.scalars(
        select(SubjectSecret)
        .where(SubjectSecret.site_id == site_id,
               or_(SubjectSecret.retires_at.is_(None), SubjectSecret.retires_at > now))
        .order_by(SubjectSecret.created_at.desc())
    ).all()


def current_secret(session, site_id):
    """The secret a backend should sign new tokens with: the newest that is not retiring."""
    for secret in list_secrets(session, site_id):
        if secret.retires_at is None:
            return secret
    raise NotFound(f"Site {site_id!r} has no subject secret in force; rotate one in.")


# Built once: the pseudonyms (and lanes) of some of a site's users, read on every decision by a user.
KNOWN_PSEUDONYMS = select(SUBJECTS.c.subject_id, SUBJECTS.c.pseudonym, SUBJECTS.c.lane).where(
    SUBJECTS.c.site_id == bindparam("site_id"), SUBJECTS.c.subject_id.in_(bindparam("subject_ids", expanding=True))
)


def stored_pseudonyms(connection, site_id, subject_ids):
    """{subject_id: (pseudonym, lane)} of those of the site's users who have one (since their first decision)."""
    asked = sorted({subject_id for subject_id in subject_ids if subject_id is not None})
    if not asked:
        return {}
    rows = connection.execute(KNOWN_PSEUDONYMS, {"site_id": site_id, "subject_ids": asked})
    return {subject_id: (pseudonym, lane) for subject_id, pseudonym, lane in rows}
