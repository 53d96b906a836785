"""Helpers for the auditor tests: a second site, auditor accounts, bulk chains, raw SQL as an attacker."""
import json
import uuid
from datetime import UTC, datetime, timedelta

from flask import current_app
from itsdangerous import URLSafeSerializer
from sqlalchemy import insert, select, text

from consent.accounts.auditors import create_auditor
from consent.ledger import signing
from consent.ledger.chain import GENESIS_HASH, event_hash
from consent.ledger.receipts import SIGNATURE_SALT, build_receipt, policy_text_hash, sign_receipt
from consent.proof.verify import canonical_json
from consent.storage import db
from consent.storage.models import ConsentEvent, PolicyVersion, Receipt, ReceiptSignature, Site
from tests.conftest import import_site, load_site_config

APPEND_ONLY_TABLES = ("consent_events", "receipts", "receipt_signatures", "checkpoints")


def legacy_receipt_signature(receipt):
    """A receipt's HMAC signature as issued before issue 18: an itsdangerous token embedding the receipt."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SIGNATURE_SALT).dumps(receipt)


def import_other_site(app):
    """A second site, `other`, for scope tests."""
    import_site(app, load_site_config(id="other", allowed_origins=["https://other.example"]))


def make_auditor(app, site_ids, email="auditor@example.org", password="correct horse battery"):
    """An auditor for `site_ids`; returns (api_token, password)."""
    with app.app_context(), db.write_transaction() as session:
        _auditor, api_token, password = create_auditor(session, email, site_ids, password)
    return api_token, password


def bulk_events(app, site_id, count, subject_ref=None, start=None, batch=2000):
    """Append `count` valid, chained events with their signed receipts to a site's log with bulk inserts.

    The documents have the shape of events stored before migration 0008 (a `visitor_id`, no
    subject_verified or decided_at), pinning the policy text as every event does since issue 12.
    """
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    with app.test_request_context(), db.write_transaction() as session:  # a request: receipts hold links
        site, policy = session.get(Site, site_id), session.get(PolicyVersion, (site_id, "v1"))
        shown = policy_text_hash(policy)
        head = session.execute(
            select(ConsentEvent.seq, ConsentEvent.event_hash)
            .where(ConsentEvent.site_id == site_id).order_by(ConsentEvent.seq.desc()).limit(1)
        ).first()
        seq, prev_hash = (head.seq, head.event_hash) if head else (0, GENESIS_HASH)
        rows, receipts, signatures = [], [], []
        for number in range(count):
            seq += 1
            recorded_at = start + timedelta(seconds=number)
            document = {
                "event_id": str(uuid.uuid4()), "receipt_id": str(uuid.uuid4()), "site_id": site_id, "seq": seq,
                "prev_hash": prev_hash, "recorded_at": recorded_at.isoformat(),
                "timestamp": int(recorded_at.timestamp()),
                "subject_ref": subject_ref, "visitor_id": f"visitor-{seq:08d}",
                "principal": f"subject:{subject_ref}" if subject_ref else f"visitor:visitor-{seq:08d}",
                "policy_version": "v1", "language": "zh-CN",
                "choices": {"necessary": True, "analytics": seq % 2 == 0, "advertising": False, "marketing_sms": False,
                            "personalized_recommendation": False, "cross_border_transfer": False},
                "separate_consents": [], "action": "custom" if seq % 2 == 0 else "reject_all", "age_statement": None,
                "guardian_consent": None, "collection_method": "banner", "do_not_track": False,
                "signals": {"dnt": False, "gpc": False}, "policy_text_hash": shown,
            }
            prev_hash = event_hash(document)
            rows.append({
                "site_id": site_id, "seq": seq, "event_id": document["event_id"], "subject_ref": subject_ref,
                "visitor_id": document["visitor_id"], "policy_version": "v1", "action": document["action"],
                "idempotency_key": None, "client_hash": None, "created_at": recorded_at,
                "document": canonical_json(document), "prev_hash": document["prev_hash"], "event_hash": prev_hash,
            })
            old_keys = {"identified_by": None, "subject_token_kid": None, "decided_at": None, "linked_receipt_id": None}
            receipt = build_receipt(site, policy, {**old_keys, **document})
            receipt_text = canonical_json(receipt)
            kid, jws = signing.sign_text(session, receipt_text)
            # Every other receipt as signed before issue 18: a chain holding both kinds verifies.
            signature = sign_receipt(receipt_text) if seq % 2 else legacy_receipt_signature(receipt)
            receipts.append({"receipt_id": document["receipt_id"], "event_id": document["event_id"],
                             "site_id": site_id, "document": receipt_text,
                             "hmac_signature": signature, "created_at": recorded_at})
            signatures.append({"receipt_id": document["receipt_id"], "kid": kid, "jws": jws, "created_at": recorded_at})
            if len(rows) == batch:
                _insert_events(session, rows, receipts, signatures)
                rows, receipts, signatures = [], [], []
        if rows:
            _insert_events(session, rows, receipts, signatures)


def _insert_events(session, events, receipts, signatures):
    for model, rows in ((ConsentEvent, events), (Receipt, receipts), (ReceiptSignature, signatures)):
        session.execute(insert(model), rows)


def is_sqlite(app):
    return app.config["DATABASE_URL"].startswith("sqlite")


def drop_append_only_triggers(app):
    """What an attacker with database access does first: remove the triggers that refuse edits."""
    with app.app_context(), db.write_transaction() as session:
        for table in APPEND_ONLY_TABLES:
            if is_sqlite(app):
                for verb in ("update", "delete"):
                    session.execute(text(f"DROP TRIGGER {table}_append_only_{verb}"))
            else:
                session.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))


def run_sql(app, *statements):
    """Raw SQL in one transaction, as someone with database access but without our keys would run it.

    Each statement is a string or (string, bound parameters).
    """
    with app.app_context(), db.write_transaction() as session:
        for statement in statements:
            sql, parameters = statement if isinstance(statement, tuple) else (statement, {})
            session.execute(text(sql), parameters)


def stored_document(app, site_id, seq):
    with app.app_context():
        return json.loads(db.get_session().scalar(
            select(ConsentEvent.document).where(ConsentEvent.site_id == site_id, ConsentEvent.seq == seq)
        ))
