"""Recording consent decisions: check them against the site's current policy, chain, sign, store.

Every decision becomes one append-only event. Each event's document carries the hash of the
previous event of the same site, so an auditor can detect any edited, removed or reordered record.
"""
import json
import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from consent import receipts
from consent.chain import GENESIS_HASH, event_hash
from consent.clients import client_hash
from consent.db import write_transaction
from consent.errors import InvalidRequest, OriginNotAllowed, StalePolicyVersion
from consent.models import ConsentEvent, Receipt, SiteOrigin
from consent.sites import current_policy, get_site


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
    Nothing is written unless every check passes.
    """
    with write_transaction() as session:
        # Lock the site row (PostgreSQL; SQLite already holds its write lock) so concurrent
        # decisions for one site take turns extending its chain.
        site = get_site(session, data["site_id"], for_update=True)
        if not origin_is_allowed(session, origin, site.id):
            raise OriginNotAllowed(f"Origin {origin!r} may not record consent for site {site.id!r}.")
        policy = current_policy(session, site)
        if data["policy_version"] != policy.version:
            raise StalePolicyVersion(
                f"Policy version {data['policy_version']!r} is not the current one ({policy.version!r}); "
                "show the visitor the current policy and ask again."
            )
        choices = complete_choices(policy.purposes, data["choices"])
        tracking_granted = [p["id"] for p in policy.purposes if p["tracking"] and choices[p["id"]]]
        if data["do_not_track"] and tracking_granted:
            raise InvalidRequest(
                "Do-Not-Track was chosen, yet tracking purposes are granted.",
                {"choices": {pid: ["Contradicts do_not_track."] for pid in tracking_granted}},
            )

        if data["idempotency_key"]:
            existing = session.scalars(
                select(Receipt)
                .join(ConsentEvent)
                .where(ConsentEvent.site_id == site.id, ConsentEvent.idempotency_key == data["idempotency_key"])
            ).first()
            if existing is not None:
                return _result(existing), False

        head = session.execute(
            select(ConsentEvent.seq, ConsentEvent.event_hash)
            .where(ConsentEvent.site_id == site.id)
            .order_by(ConsentEvent.seq.desc())
            .limit(1)
        ).first()
        seq, prev_hash = (head.seq + 1, head.event_hash) if head else (1, GENESIS_HASH)

        now = datetime.now(timezone.utc)
        visitor_id = data["visitor_id"] or uuid.uuid4().hex
        header_signals = header_signals or {}
        document = {
            "event_id": str(uuid.uuid4()),
            "receipt_id": str(uuid.uuid4()),
            "site_id": site.id,
            "seq": seq,
            "prev_hash": prev_hash,
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
            "signals": {
                name: bool(data["signals"][name] or header_signals.get(name)) for name in ("dnt", "gpc")
            },
        }
        event = ConsentEvent(
            site_id=site.id,
            seq=seq,
            event_id=document["event_id"],
            subject_id=document["subject_id"],
            visitor_id=visitor_id,
            policy_version=policy.version,
            action=document["action"],
            idempotency_key=data["idempotency_key"],
            client_hash=client_hash(client_ip),
            created_at=now,
            document=receipts.canonical_json(document),
            prev_hash=prev_hash,
            event_hash=event_hash(document),
        )
        receipt_document = receipts.build_receipt(site, policy, document)
        receipt = Receipt(
            receipt_id=document["receipt_id"],
            event=event,
            site_id=site.id,
            document=receipts.canonical_json(receipt_document),
            hmac_signature=receipts.sign_receipt(receipt_document),
            created_at=now,
        )
        session.add_all([event, receipt])
        return _result(receipt), True


def _result(receipt):
    return {
        "receipt_id": receipt.receipt_id,
        "receipt": json.loads(receipt.document),
        "signature": receipt.hmac_signature,
        "receipt_token": receipts.access_token(receipt.receipt_id),
    }
