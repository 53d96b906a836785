"""Guardians of minors: their decisions, recorded by the site's backend, and the minors still waiting for one.

On a site with an age gate, a visitor under the site's age threshold (`age_threshold`: 14, PIPL art. 31,
or 18) states "minor" ("under_14" from older widgets). Their own decision grants nothing optional: it is
"pending" a guardian (consent/ledger/choices.py). Only the site knows who a minor's parent or guardian
is, so only the site's backend, with its API key, records a guardian's decision for one of its users. It
is a new event with its own receipt (collection method "guardian", guardianConsent "given",
guardianAssertedBy "site"), bound to the user's pseudonym as a subject token would bind it; as the
user's latest verified decision it answers the backend API and reaches the minor's devices
(consent/visitor/own_data.py, subject_decision).

Whose decision a guardian may make: a user whose latest verified decision is a minor's, pending or a
guardian's already (the guardian changes or withdraws it later, and the minor's own withdrawal
afterwards makes it pending again). A user whose latest decision states "adult" (or no age at all) is
refused: the site would override what a user decided for themselves, which is a mistake of the site's
(the wrong user, or a user who should first state their age again), not a guardian's decision.
"""
import json

from sqlalchemy import and_, func, select

from consent.errors import GuardianNotExpected, NotFound
from consent.ledger import lanes, lifetime
from consent.ledger.choices import MINOR_STATEMENTS
from consent.ledger.decisions import Principal, record_consent
from consent.ledger.site_facts import SERVICE_PAGE
from consent.sites.configs import get_site
from consent.storage.db import get_session
from consent.storage.models import CHAIN_ORDER, ConsentEvent, Receipt, Subject, after_in_chain
from consent.subjects import identity
from consent.subjects.rights import LATEST_FIRST, latest_events

PENDING = "pending_guardian"  # the action of a minor's own decision (choices.classify)


def record_guardian_decision(site_id, subject_id, body, api_key, client_ip=None):
    """Record a guardian's decision (a GuardianDecisionSchema body) for the site's user `subject_id`.

    Returns record_consent's (result, created). NotFound for a user without a verified decision (or
    erased), GuardianNotExpected for a site without an age gate or a user whose latest decision is no
    minor's; the decision itself is checked as any other (policy version, purposes, sensitive ones).
    """
    session = get_session()
    site = get_site(session, site_id)
    if not site.age_gate:
        raise GuardianNotExpected(f"Site {site.id!r} has no age gate: its users decide for themselves.")
    latest = latest_events(session, site.id, [subject_id]).get(subject_id)
    if latest is None or not latest.subject_verified:
        raise NotFound(f"Site {site.id!r} has no verified decision of user {subject_id!r} (or erased them): "
                       "a guardian decides for a minor who stated their age signed in.")
    if json.loads(latest.document).get("age_statement") not in MINOR_STATEMENTS:
        raise GuardianNotExpected(f"The latest decision of user {subject_id!r} does not say they are under "
                                  f"{site.age_threshold}: a guardian decides only for a minor.")
    data = {
        **body, "site_id": site.id, "subject_id": subject_id, "subject_token": None, "visitor_secret": None,
        "visitor_id": None, "decided_at": None, "links_receipt_id": None, "signals": {"dnt": False, "gpc": False},
        "collection_method": "guardian", "age_statement": "minor", "guardian_consent": "given",
        "asserting_api_key": api_key.prefix,
    }
    principal = Principal(identity.unlinkable_visitor_ref(), "site_api_key", subject_id)
    return record_consent(data, origin=SERVICE_PAGE, client_ip=client_ip, principal=principal)


def pending_guardians(session, site_id, after=0, limit=100):
    """A page of the site's users whose latest verified decision is a minor's own, awaiting a guardian.

    Returns (entries, next_after): entries in the order of their decisions in the log, lane by lane (`after`
    is the position of the previous page's last one, consent/ledger/lanes.py; next_after None on the last
    page). Erased users are left out: nothing links them to an id the site could act on, and no guardian's
    decision can name them. A pending decision that has expired is listed (with its expiry): the user is
    still a minor whom no guardian decided for.
    """
    waiting = select(ConsentEvent.subject_ref).where(ConsentEvent.site_id == site_id, ConsentEvent.action == PENDING)
    ranked = (
        select(ConsentEvent.id, func.row_number().over(partition_by=ConsentEvent.subject_ref,
                                                       order_by=LATEST_FIRST).label("rank"))
        .where(ConsentEvent.site_id == site_id, ConsentEvent.subject_ref.in_(waiting))
        .subquery()
    )
    rows = session.execute(
        select(ConsentEvent, Subject.subject_id, Receipt.receipt_id)
        .join(ranked, ranked.c.id == ConsentEvent.id)
        .join(Subject, and_(Subject.site_id == ConsentEvent.site_id, Subject.pseudonym == ConsentEvent.subject_ref))
        .join(Receipt, Receipt.event_id == ConsentEvent.event_id)
        .where(ranked.c.rank == 1, ConsentEvent.action == PENDING, ConsentEvent.subject_verified.is_(True),
               after_in_chain(*lanes.lane_and_seq(after)))
        .order_by(*CHAIN_ORDER)
        .limit(limit + 1)
    ).all()
    entries = [_entry(event, subject_id, receipt_id) for event, subject_id, receipt_id in rows[:limit]]
    if len(rows) <= limit:
        return entries, None
    last = rows[limit - 1][0]
    return entries, lanes.position(last.lane, last.seq)


def _entry(event, subject_id, receipt_id):
    document = json.loads(event.document)
    return {
        "subject_id": subject_id,
        "subject_ref": event.subject_ref,
        "receipt_id": receipt_id,
        "decided_at": document.get("decided_at", document["recorded_at"]),
        "recorded_at": document["recorded_at"],
        "policy_version": document["policy_version"],
        "age_statement": document["age_statement"],
        "age_threshold": document.get("age_threshold", 14),
        "expires_at": lifetime.event_expiry(event).isoformat(),
        "seq": event.seq,
        "lane": event.lane,
    }
