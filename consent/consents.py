"""Recording consent decisions: check them against the site's current policy, chain, sign, store.

Every decision becomes one append-only event. Each event's document carries the hash of the
previous event of the same site, so an auditor can detect any edited, removed or reordered record.
"""
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import exists, insert, select
from sqlalchemy.exc import IntegrityError

from consent import checkpoints, receipts, signing, webhooks
from consent.chain import GENESIS_HASH, event_hash
from consent.clients import client_hash
from consent.db import get_session, write_transaction
from consent.errors import InvalidRequest, NotFound, OriginNotAllowed, StalePolicyVersion
from consent.models import ConsentEvent, Receipt, ReceiptSignature, Site, SiteOrigin, Subject
from consent.sites import current_policy


# Stands for the service's own visitor pages (the "my data" page) acting for a site. They have no
# embedding origin: they prove the visitor with a receipt token instead, and never answer via CORS.
SERVICE_PAGE = object()

# Plain table inserts, built once: storing a decision needs none of the ORM's unit of work.
INSERT_EVENT = insert(ConsentEvent.__table__)
INSERT_RECEIPT = insert(Receipt.__table__)
INSERT_RECEIPT_SIGNATURE = insert(ReceiptSignature.__table__)


def origin_is_allowed(session, origin, site_id=None):
    """Whether `origin` may embed the widget of `site_id` (or of any site, for CORS preflight)."""
    if not origin:
        return False
    query = select(SiteOrigin.site_id).where(SiteOrigin.origin == origin)
    if site_id is not None:
        query = query.where(SiteOrigin.site_id == site_id)
    return session.execute(query.limit(1)).first() is not None


def _refusal(detail, purpose_ids, message):
    return InvalidRequest(detail, {"choices": {purpose_id: [message] for purpose_id in purpose_ids}})


def checked_choices(purposes, data):
    """Every purpose of the policy with its decision, or InvalidRequest naming what is wrong.

    Refuses unknown purposes, required purposes missing or refused, tracking granted together with
    Do-Not-Track, sensitive purposes granted without their separate step, and optional purposes
    granted by someone who said they are under 14.
    """
    by_id = {purpose["id"]: purpose for purpose in purposes}
    choices = data["choices"]
    unknown = sorted(set(choices) - set(by_id))
    if unknown:
        raise _refusal("Unknown purposes for this site's policy.", unknown, "Unknown purpose.")
    refused_required = [p["id"] for p in purposes if p["required"] and choices.get(p["id"]) is not True]
    if refused_required:
        raise _refusal(
            "Required purposes must be present and true: the site cannot work without them.",
            refused_required,
            "Required purpose missing or refused.",
        )
    # An optional purpose left out was not agreed to: silence is never consent.
    complete = {purpose["id"]: choices.get(purpose["id"], False) for purpose in purposes}
    granted = [purpose_id for purpose_id, given in complete.items() if given and not by_id[purpose_id]["required"]]

    tracking = [purpose_id for purpose_id in granted if by_id[purpose_id]["tracking"]]
    if data["do_not_track"] and tracking:
        raise _refusal("Do-Not-Track was chosen, yet tracking purposes are granted.", tracking, "Contradicts do_not_track.")
    separate = set(data["separate_consents"])
    misplaced = sorted(separate - {pid for pid in granted if by_id[pid]["sensitive"]})
    if misplaced:
        raise _refusal(
            "separate_consents may only list sensitive purposes that are granted.", misplaced, "Not a granted sensitive purpose."
        )
    bundled = [pid for pid in granted if by_id[pid]["sensitive"] and pid not in separate]
    if bundled:
        raise _refusal(
            "Sensitive purposes need their own, separate consent and cannot be granted with the others.",
            bundled,
            "Granted without separate consent.",
        )
    if data["age_statement"] == "under_14" and granted:
        raise _refusal(
            "A visitor under 14 needs a guardian's consent: no optional purpose can be granted yet.",
            granted,
            "Needs guardian consent.",
        )
    return complete


def classify(purposes, choices, age_statement):
    """The kind of decision, for queries and reports; the choices themselves are the record.

    Sensitive purposes are decided in their own step, so they do not count towards "all".
    """
    if age_statement == "under_14":
        return "pending_guardian"
    optional = [purpose["id"] for purpose in purposes if not purpose["required"] and not purpose["sensitive"]]
    granted = [purpose_id for purpose_id in optional if choices[purpose_id]]
    if optional and len(granted) == len(optional):
        return "accept_all"
    return "reject_all" if not granted else "custom"


def subject_pseudonym(session, site_id, subject_id):
    """The pseudonym events of this site's user carry; created on their first decision."""
    if subject_id is None:
        return None
    subject = session.get(Subject, (site_id, subject_id))
    if subject is None:
        subject = Subject(site_id=site_id, subject_id=subject_id, pseudonym=str(uuid.uuid4()))
        session.add(subject)
    return subject.pseudonym


def record_consent(data, origin, client_ip=None, header_signals=None):
    """Store one decision and return its receipt; a repeated idempotency key returns the first one.

    Returns (result, created) where result holds receipt_id, receipt, signature, jws and receipt_token.
    Nothing is written unless every check passes. The checks run before the write lock is taken:
    the lock covers only linking the event into the chain and storing it, so concurrent decisions
    wait for each other as little as possible.
    """
    session = get_session()
    site = site_for_origin(session, data["site_id"], origin)
    policy = published_policy(session, site)
    _check_policy_version(data["policy_version"], policy.version)
    if site.age_gate and data["age_statement"] is None:
        raise InvalidRequest("This site asks every visitor for an age statement.", {"age_statement": ["Required."]})
    choices = checked_choices(policy.purposes, data)
    # End this request's read transaction before queueing for the write lock: a reader held open
    # while waiting would keep SQLite from ever recycling its write-ahead log, which then only grows.
    session.commit()
    try:
        receipt = _append_to_chain(site, policy, data, choices, client_hash(client_ip), header_signals or {})
    except IntegrityError:
        # The idempotency key is unique per site: a retry of a stored decision lands here, nothing
        # of it written. Checking first would cost every first try a query for the rare retry.
        existing = _receipt_for_key(session, site.id, data["idempotency_key"]) if data["idempotency_key"] else None
        if existing is None:
            raise
        return _result(existing.receipt_id, existing.document, existing.hmac_signature, existing.jws), False
    return _result(receipt["receipt_id"], receipt["document"], receipt["hmac_signature"], receipt["jws"]), True


def _append_to_chain(site, policy, data, choices, hashed_client, header_signals):
    """Link the event to its site's chain head and store it with its receipt, under the write lock."""
    with write_transaction() as session:
        # Lock the site row (PostgreSQL; SQLite already holds its write lock) so concurrent
        # decisions for one site take turns extending its chain; its policy may have moved on meanwhile.
        current_version = session.execute(
            select(Site.current_policy_version).where(Site.id == site.id).with_for_update()
        ).scalar_one()
        _check_policy_version(policy.version, current_version)
        document = _event_document(session, site, policy, data, choices, header_signals)
        created_at = datetime.fromisoformat(document["recorded_at"])
        receipt_document = receipts.build_receipt(site, policy, document)
        event_row_hash = event_hash(document)
        session.execute(INSERT_EVENT, {
            "site_id": site.id,
            "seq": document["seq"],
            "event_id": document["event_id"],
            "subject_ref": document["subject_ref"],
            "visitor_id": document["visitor_id"],
            "policy_version": policy.version,
            "action": document["action"],
            "idempotency_key": data["idempotency_key"],
            "client_hash": hashed_client,
            "created_at": created_at,
            "document": receipts.canonical_json(document),
            "prev_hash": document["prev_hash"],
            "event_hash": event_row_hash,
        })
        receipt = {
            "receipt_id": document["receipt_id"],
            "event_id": document["event_id"],
            "site_id": site.id,
            "document": receipts.canonical_json(receipt_document),
            "hmac_signature": receipts.sign_receipt(receipt_document),
            "created_at": created_at,
        }
        session.execute(INSERT_RECEIPT, receipt)
        # The second signature, Ed25519, is the one anyone can check offline with our public keys.
        kid, jws = signing.sign(session, receipt_document)
        session.execute(INSERT_RECEIPT_SIGNATURE,
                        {"receipt_id": receipt["receipt_id"], "kid": kid, "jws": jws, "created_at": created_at})
        webhooks.enqueue(session, site.id, document["event_id"], created_at)
        checkpoints.after_event(session, site.id, document["seq"], event_row_hash)
        return {**receipt, "jws": jws}


@dataclass(frozen=True)
class PublishedPolicy:
    """What recording a decision needs of a policy version: published versions never change."""

    version: str
    url: str
    purposes: list


def published_policy(session, site):
    """The site's current policy version, read once per worker: it can never change once published."""
    cache = current_app.extensions.setdefault("consent.published_policies", {})
    key = (site.id, site.current_policy_version)
    if key not in cache:
        policy = current_policy(session, site)
        cache[key] = PublishedPolicy(policy.version, policy.url, policy.purposes)
    return cache[key]


def site_for_origin(session, site_id, origin):
    """The columns of a site a decision needs, in one query that also checks the origin may embed it."""
    asked = origin if isinstance(origin, str) else ""  # SERVICE_PAGE and no origin match no row
    origin_allowed = exists().where(SiteOrigin.site_id == Site.id, SiteOrigin.origin == asked)
    site = session.execute(
        select(Site.id, Site.name, Site.controller, Site.jurisdiction, Site.current_policy_version, Site.age_gate,
               origin_allowed.label("origin_allowed")).where(Site.id == site_id)
    ).first()
    if site is None:
        raise NotFound(f"No site {site_id!r} is configured here.")
    if origin is not SERVICE_PAGE and not site.origin_allowed:
        raise OriginNotAllowed(f"Origin {origin!r} may not record consent for site {site.id!r}.")
    return site


def _check_policy_version(asked, current):
    if asked != current:
        raise StalePolicyVersion(
            f"Policy version {asked!r} is not the current one ({current!r}); "
            "show the visitor the current policy and ask again."
        )


def _receipt_for_key(session, site_id, idempotency_key):
    return session.execute(
        select(Receipt.receipt_id, Receipt.document, Receipt.hmac_signature, ReceiptSignature.jws)
        .join(ConsentEvent, ConsentEvent.event_id == Receipt.event_id)
        .outerjoin(ReceiptSignature, ReceiptSignature.receipt_id == Receipt.receipt_id)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.idempotency_key == idempotency_key)
    ).first()


def _event_document(session, site, policy, data, choices, header_signals):
    """The event as it is hashed into the chain: everything needed to prove the decision later."""
    head = session.execute(
        select(ConsentEvent.seq, ConsentEvent.event_hash)
        .where(ConsentEvent.site_id == site.id)
        .order_by(ConsentEvent.seq.desc())
        .limit(1)
    ).first()
    now = datetime.now(timezone.utc)
    subject_ref = subject_pseudonym(session, site.id, data["subject_id"])
    visitor_id = data["visitor_id"] or uuid.uuid4().hex
    return {
        "event_id": str(uuid.uuid4()),
        "receipt_id": str(uuid.uuid4()),
        "site_id": site.id,
        "seq": head.seq + 1 if head else 1,
        "prev_hash": head.event_hash if head else GENESIS_HASH,
        "recorded_at": now.isoformat(),
        "timestamp": int(now.timestamp()),
        "subject_ref": subject_ref,
        "visitor_id": visitor_id,
        "principal": f"subject:{subject_ref}" if subject_ref else f"visitor:{visitor_id}",
        "policy_version": policy.version,
        "language": data["language"],
        "choices": choices,
        "separate_consents": sorted(data["separate_consents"]),
        "action": classify(policy.purposes, choices, data["age_statement"]),
        "age_statement": data["age_statement"],
        "guardian_consent": "pending" if data["age_statement"] == "under_14" else None,
        "collection_method": data["collection_method"],
        "do_not_track": data["do_not_track"],
        # A signal counts when the page reported it or the browser sent it with this request.
        "signals": {name: bool(data["signals"][name] or header_signals.get(name)) for name in ("dnt", "gpc")},
    }


def _result(receipt_id, receipt_json, signature, jws):
    return {
        "receipt_id": receipt_id,
        "receipt": json.loads(receipt_json),
        "signature": signature,
        "jws": jws,
        "receipt_token": receipts.access_token(receipt_id),
    }
