"""The append-only, hash-chained log: triggers refuse edits, `log verify` finds the ones made around them."""
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from consent.ledger.chain import event_hash
from consent.proof.verify import canonical_json
from consent.storage import db
from tests.audit_support import bulk_events, drop_append_only_triggers, run_sql, stored_document


def verify(app, *site_args):
    return app.test_cli_runner().invoke(args=["consent", "log", "verify", *site_args])


def checkpoint(app, *site_args):
    return app.test_cli_runner().invoke(args=["consent", "log", "checkpoint", *site_args])


@pytest.fixture
def five_events(consent):
    for _ in range(5):
        assert consent.post().status_code == 201
    return consent.stored_events()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_events SET action = 'accept_all' WHERE seq = 2",
        "DELETE FROM consent_events WHERE seq = 5",
        "UPDATE receipts SET document = '{}'",
        "DELETE FROM receipts",
        "UPDATE receipt_signatures SET jws = 'x'",
        "DELETE FROM receipt_signatures",
        "DELETE FROM checkpoints",
    ],
)
def test_database_refuses_updates_and_deletes(app, five_events, statement):
    assert checkpoint(app).exit_code == 0
    with pytest.raises(DBAPIError, match="append-only"):
        run_sql(app, statement)
    assert verify(app).exit_code == 0


def test_postgres_refuses_truncate(app, five_events):
    if app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DBAPIError, match="append-only"):
        run_sql(app, "TRUNCATE consent_events CASCADE")


def test_intact_log_verifies(app, five_events):
    result = verify(app, "--site", "shop")
    assert result.exit_code == 0 and "shop: intact, 5 events" in result.output


def edit_document(app, seq, **changes):
    document = {**stored_document(app, "shop", seq), **changes}
    run_sql(app, ("UPDATE consent_events SET document = :document WHERE site_id = 'shop' AND seq = :seq",
                  {"document": canonical_json(document), "seq": seq}))


def delete_events(app, seq_condition):
    """Delete events with their receipts (which refer to them), as a thorough attacker would."""
    events = f"SELECT event_id FROM consent_events WHERE site_id = 'shop' AND seq {seq_condition}"
    receipts = f"SELECT receipt_id FROM receipts WHERE event_id IN ({events})"
    run_sql(app, f"DELETE FROM receipt_signatures WHERE receipt_id IN ({receipts})",
            f"DELETE FROM receipts WHERE event_id IN ({events})",
            f"DELETE FROM consent_events WHERE site_id = 'shop' AND seq {seq_condition}")


def swap(app, first, second):
    run_sql(
        app,
        f"UPDATE consent_events SET seq = -1 WHERE site_id = 'shop' AND seq = {first}",
        f"UPDATE consent_events SET seq = {first} WHERE site_id = 'shop' AND seq = {second}",
        f"UPDATE consent_events SET seq = {second} WHERE site_id = 'shop' AND seq = -1",
    )


TAMPERING = [
    # (what the attacker does, the seq `log verify` must name, words of the reason)
    ("edit a decision in a document", lambda app: edit_document(app, 3, action="accept_all"), 3, "edited"),
    ("edit a mirrored column",
     lambda app: run_sql(app, "UPDATE consent_events SET action = 'accept_all' WHERE seq = 2"),
     2, "(consent_events.action)"),
    ("delete an event", lambda app: delete_events(app, "= 4"), 5, "expected event 4"),
    ("swap two events", lambda app: swap(app, 2, 3), 3, "(consent_events.seq): the column says 2"),
    ("break the JSON", lambda app: run_sql(app, "UPDATE consent_events SET document = 'x' WHERE seq = 1"),
     1, "not JSON"),
]


@pytest.mark.parametrize(("what", "tamper", "seq", "reason"), TAMPERING, ids=[case[0] for case in TAMPERING])
def test_log_verify_names_the_first_broken_link(app, five_events, what, tamper, seq, reason):
    drop_append_only_triggers(app)
    tamper(app)
    result = verify(app)
    assert result.exit_code == 1
    assert f"shop: BROKEN at event {seq}" in result.output and reason in result.output, result.output


def rewrite_from(app, seq):
    """Edit event `seq` where no receipt repeats it, recomputing every later hash: the chain walk alone cannot tell."""
    with app.app_context():
        rows = db.get_session().execute(
            text("SELECT seq, document FROM consent_events WHERE site_id = 'shop' AND seq >= :seq ORDER BY seq"),
            {"seq": seq},
        ).all()
        prev_hash = db.get_session().scalar(
            text("SELECT event_hash FROM consent_events WHERE site_id = 'shop' AND seq = :seq"), {"seq": seq - 1}
        )
    statements = []
    for row_seq, stored in rows:
        document = {**json.loads(stored), "prev_hash": prev_hash}
        if row_seq == seq:
            document["action"] = "accept_all"
        prev_hash = event_hash(document)
        statements.append((
            "UPDATE consent_events SET document = :document, prev_hash = :prev_hash, event_hash = :event_hash, "
            "action = :action WHERE site_id = 'shop' AND seq = :seq",
            {"document": canonical_json(document), "prev_hash": document["prev_hash"], "event_hash": prev_hash,
             "action": document["action"], "seq": row_seq},
        ))
    run_sql(app, *statements)


def test_rewrite_with_recomputed_hashes_is_caught_by_the_signed_checkpoint(app, consent, five_events):
    assert checkpoint(app).exit_code == 0  # pinned at 5 events
    for _ in range(2):
        consent.post()
    drop_append_only_triggers(app)
    rewrite_from(app, 4)
    result = verify(app)
    assert result.exit_code == 1
    assert "BROKEN at event 1: " in result.output and "events 1 to 5 were rewritten" in result.output


def test_events_cut_from_the_end_are_caught_by_the_signed_checkpoint(app, five_events):
    assert checkpoint(app).exit_code == 0
    drop_append_only_triggers(app)
    delete_events(app, ">= 4")
    result = verify(app)
    assert result.exit_code == 1 and "BROKEN at event 4: " in result.output and "removed from the end" in result.output


def test_forged_checkpoint_is_caught(app, five_events):
    assert checkpoint(app).exit_code == 0
    drop_append_only_triggers(app)
    run_sql(app, "UPDATE checkpoints SET count = 4")
    result = verify(app)
    assert result.exit_code == 1 and "differ from the signed ones" in result.output


def test_checkpoint_command_signs_the_verified_head(app, client, five_events):
    result = checkpoint(app, "--site", "shop")
    assert result.exit_code == 0 and "shop: checkpoint 1, 5 events" in result.output
    latest = client.get("/api/v1/sites/shop/checkpoints/latest")
    assert latest.status_code == 200 and latest.headers["Access-Control-Allow-Origin"] == "*"
    published = latest.get_json()
    assert published["count"] == 5 and published["head_hash"] == five_events[-1].event_hash
    # The signed payload is exactly the published fields.
    from consent.proof.verify import b64url_decode, keys_by_kid, verify_jws

    kid, payload = verify_jws(published["jws"], keys_by_kid(client.get("/.well-known/jwks.json").get_json()))
    assert kid == published["kid"]
    assert json.loads(b64url_decode(published["jws"].split(".")[1])) == json.loads(payload)
    assert json.loads(payload) == {key: published[key] for key in ("site_id", "count", "head_hash", "time", "lane")}
    # Asking again without new events signs nothing new.
    assert "checkpoint 1, 5 events" in checkpoint(app, "--site", "shop").output


def test_checkpoint_refuses_a_broken_chain(app, five_events):
    drop_append_only_triggers(app)
    delete_events(app, "= 2")
    result = checkpoint(app)
    assert result.exit_code != 0 and "event 3" in result.output
    assert verify(app).exit_code == 1


def test_checkpoints_are_made_automatically_every_n_events(database_url, tmp_path, consent):
    from tests.conftest import make_app

    app = make_app(database_url, CONSENT_KEY_DIR=str(tmp_path / "keys"), CONSENT_CHECKPOINT_EVERY=2)
    client = app.test_client()
    for _ in range(5):
        consent.client = client
        assert consent.post().status_code == 201
    published = client.get("/api/v1/sites/shop/checkpoints/latest").get_json()
    assert published["count"] == 4
    assert verify(app).output.startswith("shop: intact, 5 events, 2 signed checkpoints match")
    db.dispose(app)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["verify", "--site", "nope"], "No site 'nope'"), (["checkpoint", "--site", "nope"], "No site 'nope'")],
)
def test_log_commands_refuse_unknown_sites(app, args, message):
    result = app.test_cli_runner().invoke(args=["consent", "log", *args])
    assert result.exit_code != 0 and message in result.output


def test_no_checkpoint_yet_is_404(client):
    assert client.get("/api/v1/sites/shop/checkpoints/latest").status_code == 404
    assert client.get("/api/v1/sites/nope/checkpoints/latest").status_code == 404


def test_verify_walks_a_long_chain(app):
    bulk_events(app, "shop", 3000)
    assert "shop: intact, 3000 events" in verify(app).output
