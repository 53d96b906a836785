"""Everything the product answers from is inside the evidence (issue 12, findings 1 and 3).

`log verify` must exit 1 and name the row and the column after an edit of any column of an event,
its receipt or the receipt's signature that the product reads, and after an edit of the archived
policy text that receipts pin. The attacker here has the database, not our keys.
"""
import hashlib
import json
import sqlite3
import time
import uuid
from contextlib import closing

import pytest
from sqlalchemy import select

from consent.ledger.chain import event_hash
from consent.ledger.decisions import Principal, request_hash
from consent.proof.verify import canonical_json
from consent.schemas import ConsentRequestSchema, load
from consent.storage import db
from consent.storage.models import PolicyVersion
from tests.audit_support import (
    bulk_events,
    drop_append_only_triggers,
    import_other_site,
    is_sqlite,
    run_sql,
    stored_document,
)
from tests.conftest import bearer, make_app

SMS = {"necessary": True, "marketing_sms": True}
NOTHING = {"necessary": True}


def verify(app):
    return app.test_cli_runner().invoke(args=["consent", "log", "verify"])


def allowed(client, key, *subjects):
    body = {"subjects": list(subjects), "purpose": "marketing_sms"}
    return client.post("/api/v1/sites/shop/consents/query", json=body, headers=bearer(key)).get_json()["allowed"]


def tamper(app, sql, parameters=None):
    """One statement as someone with database access runs it: append-only triggers and foreign keys out of the way."""
    if is_sqlite(app):
        with closing(sqlite3.connect(app.config["DATABASE_URL"].removeprefix("sqlite:///"))) as connection:
            connection.execute(sql, parameters or {})  # a plain connection: SQLite enforces no foreign keys
            connection.commit()
    else:
        run_sql(app, "SET LOCAL session_replication_role = replica", (sql, parameters or {}))


# --- Finding 1: an event moved to another user -------------------------------------------------


def test_finding_1_moving_an_event_to_another_user_flips_the_answer_and_verify_names_the_column(app, client, consent,
                                                                                                shop_key):
    consent.post(**consent.user("bob"), choices=NOTHING)
    consent.post(**consent.user("alice"), choices=SMS)
    assert allowed(client, shop_key, "alice", "bob") == ["alice"]
    bobs = consent.stored_events()[0].subject_ref
    drop_append_only_triggers(app)
    run_sql(app, ("UPDATE consent_events SET subject_ref = :ref WHERE site_id = 'shop' AND seq = 2", {"ref": bobs}))
    assert allowed(client, shop_key, "alice", "bob") == ["bob"]  # the backend answers from the edited column
    result = verify(app)
    assert result.exit_code == 1
    assert "shop: BROKEN at event 2 (consent_events.subject_ref): differs from the hashed document" in result.output


def test_a_chain_rewritten_with_recomputed_hashes_still_disagrees_with_its_signed_receipt(app, client, consent,
                                                                                         shop_key):
    """The thorough attacker edits the document too and recomputes every later hash; no checkpoint exists yet."""
    consent.post(**consent.user("bob"), choices=NOTHING)
    consent.post(**consent.user("alice"), choices=SMS)
    consent.post()
    bobs = consent.stored_events()[0].subject_ref
    drop_append_only_triggers(app)
    prev_hash, statements = consent.stored_events()[0].event_hash, []
    for seq in (2, 3):
        document = {**stored_document(app, "shop", seq), "prev_hash": prev_hash}
        if seq == 2:
            document.update(subject_ref=bobs, principal=f"subject:{bobs}")
        prev_hash = event_hash(document)
        statements.append(("UPDATE consent_events SET document = :document, subject_ref = :ref, prev_hash = :prev, "
                           "event_hash = :hash WHERE site_id = 'shop' AND seq = :seq",
                           {"document": canonical_json(document), "ref": document["subject_ref"],
                            "prev": document["prev_hash"], "hash": prev_hash, "seq": seq}))
    run_sql(app, *statements)
    assert allowed(client, shop_key, "alice", "bob") == ["bob"]
    result = verify(app)
    assert result.exit_code == 1
    assert "shop: BROKEN at event 2 (consent_events.document): disagrees with its signed receipt" in result.output
    assert "piiPrincipalId" in result.output


# --- Every column the product reads, edited alone ------------------------------------------------


@pytest.fixture
def decided(app, consent):
    """Five decisions; the third is bob's, verified, with an idempotency key and his own clock's time."""
    import_other_site(app)  # a site to move rows to
    consent.post(visitor_secret="first-visitors-credential-0123456")
    consent.post(**consent.user("alice"), choices=SMS)
    bobs_clock = int(time.time() * 1000) - 60_000
    consent.post(**consent.user("bob"), idempotency_key="bobs-key-00000001", decided_at=bobs_clock)
    consent.post()
    consent.post(**consent.user("alice"))
    events = consent.stored_events()
    assert [event.seq for event in events] == [1, 2, 3, 4, 5] and events[2].subject_verified is True
    return {"alice": events[1].subject_ref, "bobs_clock": bobs_clock, "receipt": events[2].receipt.receipt_id,
            "document": json.loads(events[2].document), "receipt_document": json.loads(events[2].receipt.document)}


def in_third_event(column, value):
    """An edit of one column of event 3; `value` is a constant or a function of what `decided` returned."""
    return lambda d: (f"UPDATE consent_events SET {column} = :value WHERE site_id = 'shop' AND seq = 3",
                      {"value": value(d) if callable(value) else value})


def in_thirds_receipt(table, column, value):
    """An edit of one column of the receipt (or its signature) of event 3."""
    return lambda d: (f"UPDATE {table} SET {column} = :value WHERE receipt_id = :receipt",
                      {"value": value(d) if callable(value) else value, "receipt": d["receipt"]})


def new_id(_decided):
    return str(uuid.uuid4())


A_TIME = "2020-01-01 00:00:00.000000"
# (column, the edit, what `log verify` must print; by default "shop: BROKEN at event 3 (<column>")
COLUMN_EDITS = [
    ("consent_events.seq", lambda d: ("UPDATE consent_events SET seq = 6 WHERE site_id = 'shop' AND seq = 5", {}),
     "shop: BROKEN at event 5 (consent_events.seq): the column says 6"),
    ("consent_events.event_id", in_third_event("event_id", new_id), None),
    ("consent_events.site_id", in_third_event("site_id", "other"), "other: BROKEN at event 3 (consent_events.site_id)"),
    ("consent_events.subject_ref", in_third_event("subject_ref", lambda d: d["alice"]), None),
    ("consent_events.visitor_id", in_third_event("visitor_id", "f" * 64), None),
    ("consent_events.policy_version", in_third_event("policy_version", "v0"), None),
    ("consent_events.action", in_third_event("action", "accept_all"), None),
    ("consent_events.idempotency_key", in_third_event("idempotency_key", "stolen-key"), None),
    ("consent_events.created_at", in_third_event("created_at", A_TIME), None),
    ("consent_events.document",
     in_third_event("document", lambda d: canonical_json({**d["document"], "choices": {**d["document"]["choices"],
                                                                                        "marketing_sms": True}})),
     "shop: BROKEN at event 3 (consent_events.document): the document does not match its hash"),
    ("consent_events.prev_hash", in_third_event("prev_hash", "0" * 64), None),
    ("consent_events.event_hash", in_third_event("event_hash", "f" * 64), None),
    ("consent_events.subject_verified", in_third_event("subject_verified", False), None),
    ("consent_events.decided_at", in_third_event("decided_at", A_TIME), None),
    ("consent_events.request_hash", in_third_event("request_hash", "a" * 64), None),
    # An event without a key has no request hash: one written in later is caught as well.
    ("consent_events.request_hash (none)",
     lambda _d: ("UPDATE consent_events SET request_hash = :value WHERE site_id = 'shop' AND seq = 4",
                 {"value": "a" * 64}),
     "shop: BROKEN at event 4 (consent_events.request_hash"),
    ("receipts.receipt_id", in_thirds_receipt("receipts", "receipt_id", new_id), None),
    ("receipts.event_id", in_thirds_receipt("receipts", "event_id", new_id),
     "shop: BROKEN at event 3 (receipts.event_id): no receipt names this event"),
    ("receipts.site_id", in_thirds_receipt("receipts", "site_id", "other"), None),
    ("receipts.document",
     in_thirds_receipt("receipts", "document", lambda d: canonical_json({**d["receipt_document"], "doNotTrack": True})),
     None),
    ("receipts.hmac_signature", in_thirds_receipt("receipts", "hmac_signature", "e30.forged"), None),
    ("receipt_signatures.jws", in_thirds_receipt("receipt_signatures", "jws", "e30.e30.AAAA"), None),
    ("receipt_signatures.kid", in_thirds_receipt("receipt_signatures", "kid", "another-key"), None),
]


@pytest.mark.parametrize(("column", "edit", "printed"), COLUMN_EDITS, ids=[case[0] for case in COLUMN_EDITS])
def test_an_edit_of_any_column_the_product_reads_is_named(app, decided, column, edit, printed):
    assert verify(app).exit_code == 0
    drop_append_only_triggers(app)
    tamper(app, *edit(decided))
    result = verify(app)
    assert result.exit_code == 1
    assert (printed or f"shop: BROKEN at event 3 ({column}") in result.output, result.output


def test_a_missing_receipt_is_a_break(app, decided):
    drop_append_only_triggers(app)
    run_sql(app, ("DELETE FROM receipt_signatures WHERE receipt_id = :receipt", decided),
            ("DELETE FROM receipts WHERE receipt_id = :receipt", decided))
    result = verify(app)
    assert result.exit_code == 1
    assert "shop: BROKEN at event 3 (receipts.event_id): no receipt names this event" in result.output


def test_a_receipt_without_its_event_is_a_break(app, decided):
    """The newest event deleted, its receipt left behind: caught without any checkpoint."""
    drop_append_only_triggers(app)
    tamper(app, "DELETE FROM consent_events WHERE site_id = 'shop' AND seq = 5")
    result = verify(app)
    assert result.exit_code == 1
    assert "shop: BROKEN at event 5 (receipts.event_id of receipt " in result.output
    assert "which is not in the site's log" in result.output


def test_every_kind_of_decision_verifies_intact(app, client, consent, decided):
    """No false alarm: anonymous, verified, linked, idempotently retried decisions and a new signing key."""
    credential = "linking-visitors-credential-012345"
    anonymous = consent.post(visitor_secret=credential, choices=SMS).get_json()
    consent.post(**consent.user("carol"), visitor_secret=credential, choices=SMS, collection_method="link",
                 links_receipt_id=anonymous["receipt_id"])
    again = consent.post(**consent.user("bob"), idempotency_key="bobs-key-00000001", decided_at=decided["bobs_clock"])
    assert again.status_code == 200 and again.get_json()["receipt_id"] == decided["receipt"]
    assert app.test_cli_runner().invoke(args=["consent", "keys", "rotate"]).exit_code == 0
    consent.post(**consent.user("alice"), choices=SMS)
    result = verify(app)
    assert result.exit_code == 0 and "shop: intact, 8 events" in result.output, result.output


def test_a_log_written_before_a_secret_key_rotation_still_verifies(database_url, app, decided):
    rotated = make_app(database_url, SECRET_KEY="the-next-secret", SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]],
                       CONSENT_KEY_DIR=app.config["CONSENT_KEY_DIR"])
    try:
        result = verify(rotated)
    finally:
        db.dispose(rotated)
    assert result.exit_code == 0 and "shop: intact, 5 events" in result.output, result.output


def test_idempotency_key_and_request_are_inside_the_hashed_document(consent, decided):
    document = decided["document"]
    stored = consent.stored_events()[2]
    assert document["idempotency_key"] == stored.idempotency_key == "bobs-key-00000001"
    assert document["request_hash"] == stored.request_hash and len(stored.request_hash) == 64
    # Keyed: the request holds the user id, and auditors export the document.
    asked = {"site_id": "shop", "subject_id": "bob"}
    assert hashlib.sha256(canonical_json(asked).encode()).hexdigest() != stored.request_hash


def test_a_request_without_an_idempotency_key_leaves_no_request_hash(consent, decided):
    """Nothing is ever answered by the request hash of a decision without a key: none is made or kept."""
    keyless = [event for event in consent.stored_events() if event.idempotency_key is None]
    assert keyless
    for event in keyless:
        assert event.request_hash is None and json.loads(event.document)["request_hash"] is None


def test_an_old_events_idempotency_key_hands_out_nothing(app, consent):
    """An event stored before documents pinned the request: its key, edited in, answers every reuse with 409."""
    bulk_events(app, "shop", 1)
    body = consent.body(idempotency_key="predicted-key-0001")
    with app.test_request_context():
        asked = request_hash(load(ConsentRequestSchema(), body), Principal("unused", "none"))
    drop_append_only_triggers(app)
    run_sql(app, ("UPDATE consent_events SET idempotency_key = :key, request_hash = :hash WHERE seq = 1",
                  {"key": body["idempotency_key"], "hash": asked}))
    reused = consent.post(body)
    assert reused.status_code == 409 and "receipt" not in reused.get_json()
    assert reused.get_json()["type"].endswith("/problems/idempotency-key-reused")


# --- Finding 3: receipts pin the archived policy text ------------------------------------------


def archived_policy(app):
    with app.app_context():
        policy = db.get_session().scalars(select(PolicyVersion).where(PolicyVersion.site_id == "shop")).one()
        return {field: getattr(policy, field) for field in ("version", "url", "text", "changes", "texts", "purposes")}


def test_finding_3_receipts_pin_the_policy_text_and_verify_checks_the_archive(app, consent):
    recorded = consent.post().get_json()
    shown = archived_policy(app)
    pinned = hashlib.sha256(json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                            .encode("utf-8")).hexdigest()
    assert recorded["receipt"]["policyTextHash"] == pinned
    assert stored_document(app, "shop", 1)["policy_text_hash"] == pinned
    assert verify(app).exit_code == 0
    edited = {**shown["text"], "en": shown["text"]["en"] + "\nWe may also sell your data."}
    run_sql(app, ("UPDATE policy_versions SET text = :text WHERE site_id = 'shop' AND version = 'v1'",
                  {"text": json.dumps(edited, ensure_ascii=False)}))
    result = verify(app)
    assert result.exit_code == 1
    assert ("shop: BROKEN at event 1 (policy_versions of shop v1): the archived policy differs from the hash "
            "receipts carry") in result.output


def test_the_auditor_api_names_the_column_too(app, client, consent):
    from tests.audit_support import make_auditor

    token = make_auditor(app, ["shop"])[0]
    consent.post(**consent.user("bob"), choices=NOTHING)
    alices = consent.post(**consent.user("alice"), choices=SMS).get_json()
    drop_append_only_triggers(app)
    bobs = consent.stored_events()[0].subject_ref
    run_sql(app, ("UPDATE consent_events SET subject_ref = :ref WHERE site_id = 'shop' AND seq = 2", {"ref": bobs}))
    proof = client.get(f"/api/v1/audit/receipts/{alices['receipt_id']}", headers=bearer(token)).get_json()
    assert proof["verification"]["chain_position_verified"] is False
    assert proof["verification"]["chain"]["problem"].startswith("event 2 (consent_events.subject_ref): ")
    answer = client.post("/api/v1/audit/sites/shop/checkpoints", headers=bearer(token))
    assert answer.status_code == 409 and "(consent_events.subject_ref)" in answer.get_json()["detail"]
