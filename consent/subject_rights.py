"""What a site backend may know and do about its users' consents: current state, batch checks, erasure."""
import json

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from consent.config import derived_hmac
from consent.models import ConsentEvent, Erasure, Subject
from consent.sites import current_policy

NO_RECORD = {"granted": False, "receipt_id": None, "recorded_at": None, "separate_consent": False}


def latest_events(session, site_id, subject_ids):
    """{subject_id: its latest ConsentEvent on the site}, for those subjects that have one."""
    pseudonyms = dict(
        session.execute(
            select(Subject.pseudonym, Subject.subject_id).where(
                Subject.site_id == site_id, Subject.subject_id.in_(subject_ids)
            )
        ).all()
    )
    if not pseudonyms:
        return {}
    newest = (
        select(ConsentEvent.subject_ref, func.max(ConsentEvent.seq).label("seq"))
        .where(ConsentEvent.site_id == site_id, ConsentEvent.subject_ref.in_(pseudonyms))
        .group_by(ConsentEvent.subject_ref)
        .subquery()
    )
    events = session.scalars(
        select(ConsentEvent)
        .join(newest, (ConsentEvent.site_id == site_id) & (ConsentEvent.seq == newest.c.seq))
        .options(joinedload(ConsentEvent.receipt))
    ).all()
    return {pseudonyms[event.subject_ref]: event for event in events}


def purpose_decision(event, purpose_id):
    """Whether `event` grants `purpose_id`, with the receipt that proves the answer either way."""
    if event is None:
        return dict(NO_RECORD)
    document = json.loads(event.document)
    # A decision awaiting a guardian grants nothing optional, whatever it holds.
    granted = document["choices"].get(purpose_id) is True and document.get("guardian_consent") != "pending"
    return {
        "granted": granted,
        "receipt_id": event.receipt.receipt_id,
        "recorded_at": document["recorded_at"],
        "separate_consent": purpose_id in document.get("separate_consents", []),
    }


def subject_consents(session, site, subject_id):
    """The current state of every purpose of the site's policy for one of its users."""
    event = latest_events(session, site.id, [subject_id]).get(subject_id)
    document = json.loads(event.document) if event else {}
    return {
        "site_id": site.id,
        "subject_id": subject_id,
        "has_record": event is not None,
        "policy_version": document.get("policy_version"),
        "current_policy_version": site.current_policy_version,
        "guardian_consent": document.get("guardian_consent"),
        "purposes": {
            purpose["id"]: purpose_decision(event, purpose["id"]) for purpose in current_policy(session, site).purposes
        },
    }


def batch_decisions(session, site, subject_ids, purpose_id):
    """Which of `subject_ids` may be contacted for `purpose_id`, each with its proof."""
    events = latest_events(session, site.id, list(set(subject_ids)))
    results = [{"subject_id": subject_id, **purpose_decision(events.get(subject_id), purpose_id)}
               for subject_id in subject_ids]
    return {
        "site_id": site.id,
        "purpose": purpose_id,
        "allowed": [result["subject_id"] for result in results if result["granted"]],
        "results": results,
    }


def subject_hash(site_id, subject_id):
    """A keyed hash of a subject id for the erasure log: it confirms a given id, it cannot reveal one."""
    return derived_hmac(current_app.config["SECRET_KEY"], b"consent.erasure", f"{site_id}\0{subject_id}")


def erase_subject(session, site_id, subject_id):
    """Unlink a user from their consent events: delete the mapping row, log the request.

    The events keep their pseudonym and their place in the hash chain, so the proof of what was
    decided survives while no longer pointing to a person.
    """
    subject = session.get(Subject, (site_id, subject_id))
    if subject is not None:
        session.delete(subject)
    erasure = Erasure(site_id=site_id, subject_hash=subject_hash(site_id, subject_id), had_record=subject is not None)
    session.add(erasure)
    session.flush()
    return erasure
