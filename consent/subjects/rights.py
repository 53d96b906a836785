"""What a site backend may know and do about its users' consents: current state, batch checks, erasure.

Only verified bindings count (README, "Identifying your users"): a user's answer comes from their
latest decision that a subject token bound to them. Bindings stored before subject tokens existed
are reported as `verified: false` and never grant anything. "Latest" is by the visitor's own clock
(`decided_at`, bounded: decisions.decision_time), then by arrival: a grant queued offline and sent
late does not outrank the withdrawal made after it.

An expired decision (consent/ledger/lifetime.py) counts as no decision: the answer is the one for a user
who never decided, but for `expired_at`, which says when the latest decision lapsed. An older decision
never answers in its place: the latest one replaced it, and its expiry does not bring it back.
"""
import json

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from consent import clock
from consent.config import derived_hmac
from consent.ledger import lifetime
from consent.sites.configs import current_policy
from consent.storage.models import ConsentEvent, Subject
from consent.storage.operations import Erasure

NO_RECORD = {"granted": False, "verified": False, "receipt_id": None, "recorded_at": None, "decided_at": None,
             "separate_consent": False, "expires_at": None, "expired_at": None}

# A person's events, newest first: by the visitor's clock (the arrival time for events stored before it was
# recorded), then by arrival time and, where the times tie, by place in the log. Time first, not place: a person's
# events may be in two lanes (a visitor's anonymous decisions and their signed-in ones, or a visitor moved by a
# raised lane count: consent/ledger/lanes.py), whose seqs say nothing about which came first.
NEWEST_FIRST = (
    func.coalesce(ConsentEvent.decided_at, ConsentEvent.created_at).desc(),
    ConsentEvent.created_at.desc(),
    ConsentEvent.lane.desc(),
    ConsentEvent.seq.desc(),
)
# Which of a subject's events answers for them: verified ones first, then the newest.
LATEST_FIRST = (case((ConsentEvent.subject_verified.is_(True), 1), else_=0).desc(), *NEWEST_FIRST)


def latest_events_by_pseudonym(session, site_id, pseudonyms):
    """{pseudonym: the ConsentEvent that answers for it on the site}, for those that have one."""
    if not pseudonyms:
        return {}
    ranked = (
        select(ConsentEvent.id, func.row_number().over(partition_by=ConsentEvent.subject_ref,
                                                       order_by=LATEST_FIRST).label("rank"))
        .where(ConsentEvent.site_id == site_id, ConsentEvent.subject_ref.in_(list(pseudonyms)))
        .subquery()
    )
    events = session.scalars(
        select(ConsentEvent).join(ranked, ranked.c.id == ConsentEvent.id).where(ranked.c.rank == 1)
        .options(joinedload(ConsentEvent.receipt))
    ).all()
    return {event.subject_ref: event for event in events}


def latest_events(session, site_id, subject_ids):
    """{subject_id: the ConsentEvent that answers for it on the site}, for those subjects that have one."""
    pseudonyms = dict(
        session.execute(
            select(Subject.pseudonym, Subject.subject_id).where(
                Subject.site_id == site_id, Subject.subject_id.in_(subject_ids)
            )
        ).all()
    )
    return {pseudonyms[ref]: event for ref, event in latest_events_by_pseudonym(session, site_id, pseudonyms).items()}


def latest_verified_choices(session, site_id, subject_id, now):
    """The choices of a user's latest verified decision in force at `now`; None when they have none (or it expired)."""
    event = latest_events(session, site_id, [subject_id]).get(subject_id) if subject_id else None
    event, _expired_at = in_force(event, now)
    if event is None or not event.subject_verified:
        return None
    return json.loads(event.document)["choices"]


def in_force(event, now):
    """(`event` if it has not expired at `now`, else None; when it expired, or None)."""
    if event is None:
        return None, None
    expires_at = lifetime.event_expiry(event)
    return (None, expires_at) if lifetime.has_expired(expires_at, now) else (event, None)


def _iso(moment):
    return moment.isoformat() if moment is not None else None


def purpose_decision(event, purpose_id, now):
    """Whether `event` grants `purpose_id` at `now`, with the receipt that proves the answer either way.

    An expired `event` answers as no record at all, saying when it expired.
    """
    event, expired_at = in_force(event, now)
    if event is None:
        return {**NO_RECORD, "expired_at": _iso(expired_at)}
    document = json.loads(event.document)
    verified = event.subject_verified is True
    # A binding nobody proved grants nothing. A minor's own decision awaiting a guardian holds true only
    # for purposes not based on consent (consent/ledger/choices.py refuses any other): those are processed
    # on their own legal basis, so they answer granted like anyone's.
    granted = verified and document["choices"].get(purpose_id) is True
    return {
        "granted": granted,
        "verified": verified,
        "receipt_id": event.receipt.receipt_id,
        "recorded_at": document["recorded_at"],
        "decided_at": document.get("decided_at", document["recorded_at"]),
        "separate_consent": purpose_id in document.get("separate_consents", []),
        "expires_at": lifetime.event_expiry(event).isoformat(),
        "expired_at": None,
    }


def subject_consents(session, site, subject_id):
    """The current state of every purpose of the site's policy for one of its users."""
    now = clock.now()
    latest = latest_events(session, site.id, [subject_id]).get(subject_id)
    event, expired_at = in_force(latest, now)
    document = json.loads(event.document) if event else {}
    return {
        "site_id": site.id,
        "subject_id": subject_id,
        "has_record": event is not None,
        "verified": bool(event is not None and event.subject_verified),
        "policy_version": document.get("policy_version"),
        "current_policy_version": site.current_policy_version,
        "guardian_consent": document.get("guardian_consent"),
        "expires_at": _iso(lifetime.event_expiry(event)) if event else None,
        "expired_at": _iso(expired_at),
        "purposes": {
            purpose["id"]: purpose_decision(latest, purpose["id"], now)
            for purpose in current_policy(session, site).purposes
        },
    }


def batch_decisions(session, site, subject_ids, purpose_id):
    """Which of `subject_ids` may be contacted for `purpose_id`, each with its proof."""
    now = clock.now()
    events = latest_events(session, site.id, list(set(subject_ids)))
    results = [{"subject_id": subject_id, **purpose_decision(events.get(subject_id), purpose_id, now)}
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
