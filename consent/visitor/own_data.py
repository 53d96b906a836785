"""A visitor's own data on a site: their history, withdrawing everything, their decision on a new device.

What opens a history is proof, never an id someone could copy: the visitor's credential (only their
browser holds it) or their site's subject token (only the site's backend can make one). The widget
exchanges that proof for a short-lived history link (`history_link`); the page behind it shows
exactly the events that proof covers, and nothing a receipt prints can stand in for it.
"""
import json
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import joinedload

from consent import clock
from consent.errors import Forbidden, SubjectNotProven
from consent.http.links import public_url
from consent.ledger import lifetime, receipts
from consent.ledger.decisions import Principal, record_consent, site_for_origin
from consent.ledger.site_facts import SERVICE_PAGE
from consent.schemas import ConsentRequestSchema, load
from consent.sites.configs import current_policy, get_site
from consent.storage.db import get_session
from consent.storage.models import ConsentEvent, Subject
from consent.subjects import identity
from consent.subjects.rights import NEWEST_FIRST, in_force, latest_events_by_pseudonym

HISTORY_LIMIT = 200


def proven_visitor(session, site_id, proof):
    """(visitor references, pseudonym of a proven user or None) that `proof` (VisitorProofSchema) covers."""
    refs = identity.visitor_refs(site_id, proof["visitor_secret"]) if proof["visitor_secret"] else []
    checked = identity.check_subject(session, site_id, proof["subject_id"], proof["subject_token"])
    pseudonym = None
    if checked.subject_id is not None:
        pseudonym = session.scalar(select(Subject.pseudonym).where(
            Subject.site_id == site_id, Subject.subject_id == checked.subject_id))
    return refs, pseudonym, checked


def history_link(site_id, proof, origin):
    """A link to the visitor's history, valid CONSENT_HISTORY_LINK_MAX_AGE_SECONDS; Forbidden without proof."""
    session = get_session()
    site_for_origin(session, site_id, origin)
    refs, pseudonym, checked = proven_visitor(session, site_id, proof)
    if not refs and checked.subject_id is None:
        raise Forbidden("Send the visitor's credential or a valid subject token to open their history.")
    token = receipts.timed_token(receipts.HISTORY_SALT, {"site": site_id, "visitors": refs, "subject": pseudonym,
                                                         "proven_user": checked.subject_id is not None})
    return {"history_url": public_url("widget.my_data", site_id=site_id, access=token),
            "expires_in": current_app.config["CONSENT_HISTORY_LINK_MAX_AGE_SECONDS"]}


def read_history_link(site_id, token):
    """What a history link covers: {site, visitors, subject, proven_user}; Forbidden when expired or forged."""
    max_age = current_app.config["CONSENT_HISTORY_LINK_MAX_AGE_SECONDS"]
    access = receipts.read_timed_token(receipts.HISTORY_SALT, token, max_age, "history link")
    if not isinstance(access, dict) or access.get("site") != site_id:
        raise Forbidden("This history link is for another site.")
    return access


def _covered(access):
    """The events a history link covers: the visitor's own, and the proven user's verified ones."""
    covered = [ConsentEvent.visitor_id.in_(access["visitors"])] if access["visitors"] else []
    if access["subject"]:
        covered.append(and_(ConsentEvent.subject_ref == access["subject"], ConsentEvent.subject_verified.is_(True)))
    return or_(*covered) if covered else None


def _covered_events(session, site_id, access, limit):
    """The newest `limit` events a history link covers, newest first (by time: they may be in several lanes of
    the log), with their receipts."""
    covered = _covered(access)
    if covered is None:
        return []
    return session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.site_id == site_id, covered)
        .options(joinedload(ConsentEvent.receipt))
        .order_by(*NEWEST_FIRST)
        .limit(limit)
    ).all()


def history(session, site_id, access):
    """The decisions a history link covers, newest first, each with its receipt, a fresh token and its expiry."""
    now = clock.now()
    return [_history_entry(item, now) for item in _covered_events(session, site_id, access, HISTORY_LIMIT)]


def _history_entry(item, now):
    expires_at = lifetime.event_expiry(item)
    return {
        "recorded_at": item.created_at,
        "expires_at": expires_at,
        "expired": lifetime.has_expired(expires_at, now),
        "action": item.action,
        "policy_version": item.policy_version,
        "granted": [purpose for purpose, given in json.loads(item.document)["choices"].items() if given],
        "receipt_id": item.receipt.receipt_id,
        "receipt_token": receipts.access_token(item.receipt.receipt_id),
    }


def withdraw_everything(session, site_id, access, language):
    """Record, for whoever the history link proves, a decision refusing every optional purpose."""
    site = get_site(session, site_id)
    policy = current_policy(session, site)
    subject_id = None
    if access["subject"]:  # None once the user was erased: the withdrawal is then the visitor's only
        subject_id = session.scalar(select(Subject.subject_id).where(
            Subject.site_id == site.id, Subject.pseudonym == access["subject"]))
    visitors = access["visitors"]
    principal = Principal(visitors[0] if visitors else identity.unlinkable_visitor_ref(), "history_link", subject_id)
    last = next(iter(_covered_events(session, site_id, access, limit=1)), None)
    data = load(
        ConsentRequestSchema(),
        {
            "site_id": site.id,
            "choices": {purpose["id"]: purpose["required"] for purpose in policy.purposes},
            "policy_version": policy.version,
            "language": language,
            "collection_method": "preference_centre",
            # Refusing everything needs no new age statement; the gate still wants the last one.
            "age_statement": json.loads(last.document).get("age_statement") if last else None,
        },
    )
    result, _created = record_consent(data, origin=SERVICE_PAGE, principal=principal)
    return result


def subject_decision(site_id, proof, origin):
    """A proven user's decision in force, for the widget on a device that has none (or an older one).

    Only a valid, unexpired subject token opens it: the answer names what the user chose. An expired
    decision is no decision: the widget then asks the visitor again.
    """
    session = get_session()
    site_for_origin(session, site_id, origin)
    _refs, pseudonym, checked = proven_visitor(session, site_id, {**proof, "visitor_secret": None})
    if checked.subject_id is None:
        raise SubjectNotProven("A valid subject token is needed to read a user's decision.")
    event = latest_events_by_pseudonym(session, site_id, [pseudonym]).get(pseudonym) if pseudonym else None
    event, _expired_at = in_force(event, clock.now())
    if event is None or not event.subject_verified:
        return {"decision": None}
    document = json.loads(event.document)
    decided_at = document.get("decided_at", document["recorded_at"])
    return {"decision": {
        "policy_version": document["policy_version"],
        "choices": document["choices"],
        "do_not_track": document["do_not_track"],
        "age_statement": document["age_statement"],
        "guardian_consent": document.get("guardian_consent"),
        "decided_at": decided_at,
        "decided_at_ms": int(datetime.fromisoformat(decided_at).timestamp() * 1000),
        "receipt_id": event.receipt.receipt_id,
        "receipt_token": receipts.access_token(event.receipt.receipt_id),
        **lifetime.expiry_fields(lifetime.event_expiry(event)),
    }}
