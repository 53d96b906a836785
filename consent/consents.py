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

from consent import receipts
from consent.chain import GENESIS_HASH, event_hash
from consent.clients import client_hash
from consent.db import get_session, write_transaction
from consent.errors import InvalidRequest, NotFound, OriginNotAllowed, StalePolicyVersion
from consent.models import ConsentEvent, Receipt, Site, SiteOrigin
from consent.sites import current_policy


# Plain table inserts, built once: storing a decision needs none of the ORM's unit of work.
INSERT_EVENT = insert(ConsentEvent.__table__)
INSERT_RECEIPT = insert(Receipt.__table__)


def origin_is_allowed(session, origin, site_id=None):
    """Whether `origin` may embed the widget of `site_id` (or of any site, for CORS preflight)."""
    if not origin:
        return False
    query = select(SiteOrigin.site_id).where(SiteOrigin.origin == origin)
    if site_id is not None:
        query = query.where(SiteOrigin.site_id == site_id)
    return session.execute(query.limit(1)).first() is not None


def complete_choices(purposes, choices):
    """Every purpose of the policy with its decision; refuses unknown, missing-required and refused-required."""
    purpose_ids = {purpose["id"] for purpose in purposes}
    unknown = sorted(set(choices) - purpose_ids)
    if unknown:
        raise InvalidRequest(
            "Unknown purposes for this site's policy.", {"choices": {pid: ["Unknown purpose."] for pid in unknown}}
        )
    refused_required = [p["id"] for p in purposes if p["required"] and choices.get(p["id"]) is not True]
    if refused_required:
        raise InvalidRequest(
            "Required purposes must be present and true: the site cannot work without them.",
            {"choices": {pid: ["Required purpose missing or refused."] for pid in refused_required}},
        )
    # An optional purpose left out was not agreed to: silence is never consent.
    return {purpose["id"]: choices.get(purpose["id"], False) for purpose in purposes}


def classify(purposes, choices):
    optional = [purpose["id"] for purpose in purposes if not purpose["required"]]
    granted = [purpose_id for purpose_id in optional if choices[purpose_id]]
    if optional and len(granted) == len(optional):
        return "accept_all"
    return "reject_all" if not granted else "custom"


def record_consent(data, origin, client_ip=None, header_signals=None):
    """Store one decision and return its receipt; a repeated idempotency key returns the first one.

    Returns (result, created) where result holds receipt_id, receipt, signature and receipt_token.
    Nothing is written unless every check passes. Checks, the receipt and its signature are made
    before the write lock is taken: the lock covers only linking the event into the chain and
    storing it, so concurrent decisions wait for each other as little as possible.
    """
    session = get_session()
    site = site_for_origin(session, data["site_id"], origin)
    policy = published_policy(session, site)
    _check_policy_version(data["policy_version"], policy.version)
    choices = complete_choices(policy.purposes, data["choices"])
    tracking_granted = [p["id"] for p in policy.purposes if p["tracking"] and choices[p["id"]]]
    if data["do_not_track"] and tracking_granted:
        raise InvalidRequest(
            "Do-Not-Track was chosen, yet tracking purposes are granted.",
            {"choices": {pid: ["Contradicts do_not_track."] for pid in tracking_granted}},
        )

    now = datetime.now(timezone.utc)
    visitor_id = data["visitor_id"] or uuid.uuid4().hex
    header_signals = header_signals or {}
    document = {
        "event_id": str(uuid.uuid4()),
        "receipt_id": str(uuid.uuid4()),
        "site_id": site.id,
        "seq": None,  # seq and prev_hash are set under the write lock, from the chain's head
        "prev_hash": None,
        "recorded_at": now.isoformat(),
        "timestamp": int(now.timestamp()),
        "subject_id": data["subject_id"],
        "visitor_id": visitor_id,
        "principal": data["subject_id"] or f"visitor:{visitor_id}",
        "policy_version": policy.version,
        "language": data["language"],
        "choices": choices,
        "action": classify(policy.purposes, choices),
        "collection_method": data["collection_method"],
        "do_not_track": data["do_not_track"],
        # A signal counts when the page reported it or the browser sent it with this request.
        "signals": {name: bool(data["signals"][name] or header_signals.get(name)) for name in ("dnt", "gpc")},
    }
    receipt_json = receipts.canonical_json(receipts.build_receipt(site, policy, document))
    signature = receipts.sign_receipt(json.loads(receipt_json))
    # End this request's read transaction before queueing for the write lock: a reader held open
    # while waiting would keep SQLite from ever recycling its write-ahead log, which then only grows.
    session.commit()
    event_row = {
        "site_id": site.id,
        "event_id": document["event_id"],
        "subject_id": document["subject_id"],
        "visitor_id": visitor_id,
        "policy_version": policy.version,
        "action": document["action"],
        "idempotency_key": data["idempotency_key"],
        "client_hash": client_hash(client_ip),
        "created_at": now,
    }
    receipt_row = {"receipt_id": document["receipt_id"], "event_id": document["event_id"], "site_id": site.id,
                   "document": receipt_json, "hmac_signature": signature, "created_at": now}
    try:
        _append_to_chain(document, event_row, receipt_row)
    except IntegrityError:
        # The idempotency key is unique per site: a retry of a stored decision lands here, nothing
        # of it written. Checking first would cost every first try a query for the rare retry.
        existing = _receipt_for_key(session, site.id, data["idempotency_key"]) if data["idempotency_key"] else None
        if existing is None:
            raise
        return _result(existing.receipt_id, existing.document, existing.hmac_signature), False
    return _result(document["receipt_id"], receipt_json, signature), True


def _append_to_chain(document, event_row, receipt_row):
    """Link the event to its site's chain head and store it with its receipt, under the write lock."""
    with write_transaction() as session:
        # Lock the site row (PostgreSQL; SQLite already holds its write lock) so concurrent
        # decisions for one site take turns extending its chain; its policy may have moved on meanwhile.
        current_version = session.execute(
            select(Site.current_policy_version).where(Site.id == document["site_id"]).with_for_update()
        ).scalar_one()
        _check_policy_version(document["policy_version"], current_version)
        head = session.execute(
            select(ConsentEvent.seq, ConsentEvent.event_hash)
            .where(ConsentEvent.site_id == document["site_id"])
            .order_by(ConsentEvent.seq.desc())
            .limit(1)
        ).first()
        document["seq"], document["prev_hash"] = (head.seq + 1, head.event_hash) if head else (1, GENESIS_HASH)
        session.execute(INSERT_EVENT, {
            **event_row,
            "seq": document["seq"],
            "prev_hash": document["prev_hash"],
            "document": receipts.canonical_json(document),
            "event_hash": event_hash(document),
        })
        session.execute(INSERT_RECEIPT, receipt_row)


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
    origin_allowed = exists().where(SiteOrigin.site_id == Site.id, SiteOrigin.origin == (origin or ""))
    site = session.execute(
        select(Site.id, Site.name, Site.controller, Site.jurisdiction, Site.current_policy_version,
               origin_allowed.label("origin_allowed")).where(Site.id == site_id)
    ).first()
    if site is None:
        raise NotFound(f"No site {site_id!r} is configured here.")
    if not site.origin_allowed:
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
        select(Receipt.receipt_id, Receipt.document, Receipt.hmac_signature)
        .join(ConsentEvent, ConsentEvent.event_id == Receipt.event_id)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.idempotency_key == idempotency_key)
    ).first()


def _result(receipt_id, receipt_json, signature):
    return {
        "receipt_id": receipt_id,
        "receipt": json.loads(receipt_json),
        "signature": signature,
        "receipt_token": receipts.access_token(receipt_id),
    }
