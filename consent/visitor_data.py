"""A visitor's own data on a site: their decision history and withdrawing everything at once.

The visitor proves who they are with a receipt and its token (handed over when they decided);
their history is every event with the same visitor id, or with the same subject pseudonym.
"""
import json

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from consent import receipts
from consent.consents import SERVICE_PAGE, record_consent
from consent.errors import NotFound
from consent.models import ConsentEvent, Receipt, Subject
from consent.schemas import ConsentRequestSchema, load
from consent.sites import current_policy, get_site

HISTORY_LIMIT = 200


def visitor_event(session, site_id, receipt_id, token):
    """The event behind a receipt the visitor holds; Forbidden without its token."""
    receipts.check_access_token(receipt_id, token)
    receipt = session.get(Receipt, receipt_id)
    if receipt is None or receipt.site_id != site_id:
        raise NotFound("No such receipt on this site.")
    return receipt.event


def history(session, event):
    """The visitor's decisions on the event's site, newest first, each with its receipt and token."""
    same_visitor = ConsentEvent.visitor_id == event.visitor_id
    who = or_(same_visitor, ConsentEvent.subject_ref == event.subject_ref) if event.subject_ref else same_visitor
    events = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.site_id == event.site_id, who)
        .options(joinedload(ConsentEvent.receipt))
        .order_by(ConsentEvent.seq.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    return [
        {
            "recorded_at": item.created_at,
            "action": item.action,
            "policy_version": item.policy_version,
            "granted": [purpose for purpose, given in json.loads(item.document)["choices"].items() if given],
            "receipt_id": item.receipt.receipt_id,
            "receipt_token": receipts.access_token(item.receipt.receipt_id),
        }
        for item in events
    ]


def withdraw_everything(session, event, language):
    """Record, for this visitor, a new decision refusing every optional purpose of the current policy."""
    site = get_site(session, event.site_id)
    policy = current_policy(session, site)
    subject_id = None
    if event.subject_ref:
        subject_id = session.scalars(
            select(Subject.subject_id).where(Subject.site_id == site.id, Subject.pseudonym == event.subject_ref)
        ).first()
    previous = json.loads(event.document)
    data = load(
        ConsentRequestSchema(),
        {
            "site_id": site.id,
            "subject_id": subject_id,
            "visitor_id": event.visitor_id,
            "choices": {purpose["id"]: purpose["required"] for purpose in policy.purposes},
            "policy_version": policy.version,
            "language": language,
            "collection_method": "preference_centre",
            # Refusing everything needs no new age statement; the gate still wants the last one.
            "age_statement": previous.get("age_statement"),
        },
    )
    result, _created = record_consent(data, origin=SERVICE_PAGE)
    return result
