"""Checkpoints outside the database: taken by count and by time, appended to a file, sent to the site's
webhook, listed publicly, and `log verify --checkpoints` proving the log still holds what they saw."""
import hashlib
import hmac
import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, func, select

from consent.ledger import checkpoints, signing
from consent.ledger.chain import GENESIS_HASH
from consent.proof.verify import b64url_encode, canonical_json
from consent.sites import webhooks
from consent.storage import db
from consent.storage.models import Checkpoint, PolicyVersion, SigningKey, Site
from consent.storage.operations import WebhookDelivery
from tests.audit_support import bulk_events, drop_append_only_triggers, run_sql
from tests.browser.conftest import BackgroundServer
from tests.conftest import ConsentActions, import_site, load_site_config, make_app
from tests.test_webhooks import SECRET, FlakyReceiver


def verify(app, *args):
    return app.test_cli_runner().invoke(args=["consent", "log", "verify", *args])


def checkpoint(app, *args):
    return app.test_cli_runner().invoke(args=["consent", "log", "checkpoint", *args])


def published(app):
    """The lines of the app's checkpoint file."""
    path = checkpoints_path(app)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def checkpoints_path(app):
    return Path(app.config["CONSENT_CHECKPOINT_FILE"])  # every app here names its own


def stored_checkpoints(app):
    with app.app_context():
        return db.get_session().scalars(select(Checkpoint).order_by(Checkpoint.id)).all()


def cut_newest(app, keep):
    """What someone with the database does to hide the newest decisions: delete them with their
    receipts, and every checkpoint row that would show they were there."""
    drop_append_only_triggers(app)
    events = f"SELECT event_id FROM consent_events WHERE site_id = 'shop' AND seq > {keep}"
    receipts = f"SELECT receipt_id FROM receipts WHERE event_id IN ({events})"
    run_sql(app, "DELETE FROM webhook_deliveries",
            f"DELETE FROM receipt_signatures WHERE receipt_id IN ({receipts})",
            f"DELETE FROM receipts WHERE event_id IN ({events})",
            f"DELETE FROM consent_events WHERE site_id = 'shop' AND seq > {keep}",
            "DELETE FROM checkpoints")


def post(consent, count):
    for _ in range(count):
        assert consent.post().status_code == 201


def post_to(app, count=1):
    """Decisions sent to one worker of several (each app has its own chain writer and notes)."""
    post(ConsentActions(app.test_client(), app), count)


# --- Taken automatically: every N events, and by time --------------------------------------------


@pytest.fixture
def later(monkeypatch):
    """Move the checkpoints' clock forward, as if that much time had passed since."""
    def move(seconds):
        moved = datetime.now(UTC) + timedelta(seconds=seconds)
        monkeypatch.setattr(checkpoints, "utcnow", lambda: moved)
    return move


def test_a_checkpoint_is_taken_when_the_newest_is_older_than_the_interval(app, consent, later):
    post(consent, 1)
    assert stored_checkpoints(app) == []  # the log is younger than the interval (3600 s by default)
    later(3601)
    post(consent, 1)
    [signed] = stored_checkpoints(app)
    assert signed.count == 2 and signed.head_hash == consent.stored_events()[-1].event_hash
    post(consent, 2)  # the newest checkpoint is fresh again
    assert len(stored_checkpoints(app)) == 1
    later(2 * 3600 + 2)
    post(consent, 1)
    assert [stored.count for stored in stored_checkpoints(app)] == [2, 5]
    assert [line["count"] for line in published(app)] == [2, 5]
    assert verify(app).output.startswith("shop: intact, 5 events, 2 signed checkpoints match")


def test_the_interval_costs_no_query_while_the_worker_knows_none_is_due(app, consent, later):
    post(consent, 1)  # the worker learns how old the site's log is
    statements = []
    engine = db.get_engine(app)
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        post(consent, 3)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert not [statement for statement in statements if "checkpoints" in statement]


def test_another_workers_checkpoint_is_not_signed_again(app_with, tmp_path, later):
    first, second = (app_with(CONSENT_CHECKPOINT_FILE=str(tmp_path / f"worker-{n}.jsonl")) for n in (1, 2))
    for worker in (first, second):
        post_to(worker)
    later(3601)
    for worker in (first, second, first):
        post_to(worker)
    assert [stored.count for stored in stored_checkpoints(first)] == [3]  # by the first worker, once
    assert len(published(first)) == 1 and published(second) == []


def test_interval_zero_takes_none_by_time(app_with, tmp_path, later):
    app = app_with(CONSENT_CHECKPOINT_INTERVAL_SECONDS=0, CONSENT_CHECKPOINT_FILE=str(tmp_path / "c.jsonl"))
    later(10 * 24 * 3600)
    post_to(app, 3)
    assert stored_checkpoints(app) == []


# --- Published once each: the file, the webhook, the public list ----------------------------------


def test_every_checkpoint_is_appended_to_the_file_once(app_with, tmp_path):
    path = tmp_path / "published" / "checkpoints.jsonl"  # its directory is made on the first line
    app = app_with(CONSENT_CHECKPOINT_EVERY=2, CONSENT_CHECKPOINT_FILE=str(path))
    post_to(app, 5)  # checkpoints at 2 and 4, by the chain writer
    assert checkpoint(app).exit_code == 0  # 5, by the command
    assert checkpoint(app).exit_code == 0  # nothing new: the same one, not published again
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    with app.app_context():
        stored = [checkpoints.checkpoint_json(row) for row in stored_checkpoints(app)]
    assert lines == stored and [line["count"] for line in lines] == [2, 4, 5]
    assert all(line["lane"] == 0 for line in lines)


def test_a_file_that_cannot_be_written_loses_no_decision(app_with, tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app = app_with(CONSENT_CHECKPOINT_EVERY=1, CONSENT_CHECKPOINT_FILE=str(blocker / "checkpoints.jsonl"))
    post_to(app)
    assert [stored.count for stored in stored_checkpoints(app)] == [1]  # stored, listed, sent: only not in the file
    assert "not appended to" in caplog.text


@pytest.fixture
def receiver(app):
    app.config["CONSENT_WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver listens on loopback, over http: tests only
    receiver = FlakyReceiver()
    with BackgroundServer(receiver) as server:
        import_site(app, load_site_config(webhook={"url": server.url + "/hook", "secret": SECRET}))
        yield receiver


def test_the_webhook_receives_each_checkpoint_signed_like_decisions(app, client, consent, receiver, operator):
    post(consent, 1)
    assert checkpoint(app).exit_code == 0
    with app.app_context():
        assert webhooks.deliver_due(datetime.now(UTC) + timedelta(seconds=1)) == 2
    messages = []
    for headers, body in receiver.received:
        timestamp = headers["X-Consent-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Consent-Signature"] == f"sha256={expected}"
        messages.append(json.loads(body))
    assert [message["type"] for message in messages] == ["consent.decision", "checkpoint"]
    latest = client.get("/api/v1/sites/shop/checkpoints/latest").get_json()
    assert messages[1] == {"type": "checkpoint", **latest} and latest["count"] == 1
    with app.app_context():
        assert webhooks.deliver_due(datetime.now(UTC) + timedelta(hours=1)) == 0  # once each

    page = client.get("/admin/sites/shop").get_data(as_text=True)
    assert "checkpoint of 1 events" in page and messages[0]["event_id"][:8] in page


def test_a_checkpoint_the_chain_writer_signs_is_queued_for_the_webhook_once(app_with):
    """Those signed while decisions are written too, not only those of `log checkpoint`: the writer's session
    once closed with their messages still pending, and no checkpoint it signed ever reached the webhook."""
    app = app_with(CONSENT_CHECKPOINT_EVERY=2)
    import_site(app, load_site_config(webhook={"url": "https://shop.example/hooks"}))  # resolves nowhere: queued only
    post_to(app, 5)  # checkpoints at 2 and 4, by the chain writer
    with app.app_context():
        queued = db.get_session().scalars(select(WebhookDelivery.checkpoint_id)
                                          .where(WebhookDelivery.checkpoint_id.is_not(None))).all()
    assert sorted(queued) == [stored.id for stored in stored_checkpoints(app)] and len(queued) == 2


def test_a_site_without_webhook_queues_no_checkpoint_message(app, consent):
    post(consent, 1)
    assert checkpoint(app).exit_code == 0
    with app.app_context():
        assert db.get_session().scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_anyone_can_mirror_the_checkpoints_page_by_page(app_with, tmp_path):
    app = app_with(CONSENT_CHECKPOINT_EVERY=1, CONSENT_CHECKPOINT_FILE=str(tmp_path / "c.jsonl"))
    client = app.test_client()
    post_to(app, 5)
    mirrored, url = [], "/api/v1/sites/shop/checkpoints?limit=2"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and page.headers["Access-Control-Allow-Origin"] == "*"
        body = page.get_json()
        assert len(body["checkpoints"]) <= 2
        mirrored += body["checkpoints"]
        url = body["next"]
    assert [entry["count"] for entry in mirrored] == [1, 2, 3, 4, 5]
    assert mirrored == [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    after_three = client.get("/api/v1/sites/shop/checkpoints?after=3").get_json()
    assert [entry["count"] for entry in after_three["checkpoints"]] == [4, 5] and after_three["next"] is None


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/sites/nope/checkpoints", 404), ("/api/v1/sites/shop/checkpoints?after=-1", 422),
     ("/api/v1/sites/shop/checkpoints?after=x", 422), ("/api/v1/sites/shop/checkpoints?limit=501", 422),
     ("/api/v1/sites/shop/checkpoints?after=99999999999999999999", 422),
     ("/api/v1/sites/shop/checkpoints?site=other", 422)],
)
def test_hostile_list_queries_are_refused(client, path, status):
    response = client.get(path)
    assert response.status_code == status and response.mimetype == "application/problem+json"


def test_a_page_never_splits_checkpoints_of_one_count(app):
    bulk_events(app, "shop", 2)
    with app.app_context(), db.write_transaction() as session:
        head = checkpoints.head_hash_at(session, "shop", 2)
        for count in (1, 2, 2, 2):  # several of one count, as concurrent auditors' requests can make
            checkpoints.sign_checkpoint(session, "shop", [(count, head if count == 2 else
                                                           checkpoints.head_hash_at(session, "shop", 1))])
    client = app.test_client()
    first = client.get("/api/v1/sites/shop/checkpoints?limit=2").get_json()
    assert [entry["count"] for entry in first["checkpoints"]] == [1, 2, 2, 2] and first["next_after"] == 2
    assert client.get(first["next"]).get_json() == {"checkpoints": [], "next_after": None, "next": None}


# --- `log verify --checkpoints`: the log still holds everything an outside copy has seen ----------


@pytest.fixture
def pinned(app, consent):
    """Five decisions, then a checkpoint published outside (the file), then two more decisions."""
    post(consent, 5)
    assert checkpoint(app).exit_code == 0
    post(consent, 2)
    return checkpoints_path(app)


def test_outside_checkpoints_the_log_still_holds_verify(app, pinned):
    result = verify(app, "--checkpoints", str(pinned))
    assert result.exit_code == 0, result.output
    assert f"{pinned}: 1 of 1 outside checkpoints held by the log" in result.output


def test_cutting_the_newest_events_and_every_checkpoint_row_is_caught_by_the_outside_copy(app, pinned):
    cut_newest(app, keep=3)
    assert verify(app).exit_code == 0  # inside the database, nothing is left to show the cut
    result = verify(app, "--checkpoints", str(pinned))
    assert result.exit_code == 1
    assert (f"{pinned} line 1 (shop, 5 events, signed " in result.output
            and "BROKEN: it signed 5 events, the log now holds 3: events were removed from the end" in result.output)


def test_a_rewrite_below_an_outside_checkpoint_is_caught(app, pinned):
    cut_newest(app, keep=4)
    bulk_events(app, "shop", 3)  # a different event 5, chained properly: the chain walk finds nothing
    assert verify(app).exit_code == 0
    result = verify(app, "--checkpoints", str(pinned))
    assert result.exit_code == 1 and "event 5 is not the one it signed" in result.output


@pytest.mark.parametrize("source", ["list", "latest"])
def test_the_api_answers_are_outside_copies_too(app, client, pinned, tmp_path, source):
    answer = tmp_path / f"{source}.json"
    answer.write_bytes(client.get(f"/api/v1/sites/shop/checkpoints{'/latest' if source == 'latest' else ''}").data)
    assert verify(app, "--checkpoints", str(answer)).exit_code == 0
    cut_newest(app, keep=2)
    result = verify(app, "--checkpoints", str(answer))
    assert result.exit_code == 1 and "events were removed from the end" in result.output


def edited(line, **changes):
    return json.dumps({**line, **changes})


def signature_replaced(line):
    header, payload, _signature = line["jws"].split(".")
    return json.dumps({**line, "jws": f"{header}.{payload}.{b64url_encode(bytes(64))}"})


FORGERIES = [
    ("fewer events claimed", lambda line: edited(line, count=3), "the published fields differ from the signed ones"),
    ("another head claimed", lambda line: edited(line, head_hash=GENESIS_HASH), "differ from the signed ones"),
    ("signature replaced", signature_replaced, "The signature does not verify"),
    ("not JSON", lambda line: "{not json", "not a checkpoint: not JSON"),
    ("a key twice", lambda line: json.dumps(line)[:-1] + ', "count": 1}', "not a checkpoint: not JSON"),
    ("no jws", lambda line: edited({k: v for k, v in line.items() if k != "jws"}), "not a checkpoint: no 'jws'"),
    ("time not a time", lambda line: edited(line, time="yesterday"), "'time' is not an ISO 8601 time"),
    ("an array", lambda line: "[1, 2]", "not a checkpoint: not a JSON object"),
]


@pytest.mark.parametrize(("what", "forge", "reason"), FORGERIES, ids=[forgery[0] for forgery in FORGERIES])
def test_a_forged_line_is_reported(app, pinned, what, forge, reason):
    [line] = published(app)
    with pinned.open("a") as handle:
        handle.write(forge(line) + "\n")
    result = verify(app, "--checkpoints", str(pinned))
    assert result.exit_code == 1
    assert f"{pinned} line 2" in result.output and reason in result.output, result.output
    assert f"{pinned}: 1 of 2 outside checkpoints held by the log" in result.output


def test_an_outside_key_set_refuses_a_key_slipped_into_the_database(app, client, pinned, tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(client.get("/.well-known/jwks.json").data)  # kept outside, before the attack
    # Someone with the database adds a key of their own and signs a head of their choosing with it.
    private_key = Ed25519PrivateKey.generate()
    public_x = b64url_encode(private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                   serialization.PublicFormat.Raw))
    kid = signing.thumbprint(public_x)
    with app.app_context(), db.write_transaction() as session:
        session.execute(sa.insert(SigningKey.__table__).values(kid=kid, public_key=public_x,
                                                               created_at=datetime.now(UTC)))
    payload = {"site_id": "shop", "lane": 0, "count": 0, "head_hash": GENESIS_HASH,
               "time": datetime.now(UTC).isoformat()}
    header = b64url_encode(canonical_json({"alg": "EdDSA", "kid": kid}).encode())
    body = b64url_encode(canonical_json(payload).encode())
    signature = b64url_encode(private_key.sign(f"{header}.{body}".encode()))
    with pinned.open("a") as handle:
        handle.write(json.dumps({**payload, "kid": kid, "jws": f"{header}.{body}.{signature}"}) + "\n")

    assert verify(app, "--checkpoints", str(pinned)).exit_code == 0  # the database vouches for its own key
    result = verify(app, "--checkpoints", str(pinned), "--jwks", str(jwks))
    assert result.exit_code == 1 and "line 2 (shop, 0 events, signed " in result.output
    assert f"No key '{kid}' in the key set" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--jwks", "jwks.json"], "--jwks checks the signatures of --checkpoints"),
     (["--checkpoints", "missing.jsonl"], "cannot be read")],
)
def test_verify_refuses_unusable_options(app, args, message):
    result = verify(app, *args)
    assert result.exit_code != 0 and message in result.output


def test_site_filter_checks_only_that_sites_checkpoints(app, pinned):
    cut_newest(app, keep=3)
    result = verify(app, "--site", "shop", "--checkpoints", str(pinned))
    assert result.exit_code == 1
    import_site(app, load_site_config(id="other", allowed_origins=["https://other.example"]))
    result = verify(app, "--site", "other", "--checkpoints", str(pinned))
    assert result.exit_code == 0 and f"{pinned}: 0 of 0 outside checkpoints" in result.output


# --- Checkpoints stored before 0009 keep verifying; the webhook delivery log survives the migration --


OLD_CHECKPOINTS = sa.table("checkpoints", sa.column("site_id"), sa.column("count"), sa.column("head_hash"),
                           sa.column("kid"), sa.column("jws"), sa.column("signed_at", sa.DateTime(timezone=True)))
OLD_DELIVERIES = sa.table("webhook_deliveries", sa.column("id"), sa.column("site_id"), sa.column("event_id"),
                          sa.column("status"), sa.column("attempts"),
                          sa.column("next_attempt_at", sa.DateTime(timezone=True)),
                          sa.column("created_at", sa.DateTime(timezone=True)))
OLD_ATTEMPTS = sa.table("webhook_attempts", sa.column("delivery_id"), sa.column("status_code"),
                        sa.column("attempted_at", sa.DateTime(timezone=True)))


@contextmanager
def todays_site_columns(app):
    """Today's models, on a database of an older revision: the `sites` and `policy_versions` columns later
    migrations add exist (empty) while the old rows are written through the models, and are gone again afterwards."""
    later = []
    with app.app_context(), db.get_engine(app).begin() as connection:
        for table in (Site.__table__, PolicyVersion.__table__):
            present = {column["name"] for column in sa.inspect(connection).get_columns(table.name)}
            later += [column for column in table.columns if column.name not in present]
        for column in later:
            connection.execute(sa.text(f"ALTER TABLE {column.table.name} ADD COLUMN {column.name} "
                                       f"{column.type.compile(connection.dialect)}"))
    yield
    with app.app_context(), db.get_engine(app).begin() as connection:
        for column in later:
            connection.execute(sa.text(f"ALTER TABLE {column.table.name} DROP COLUMN {column.name}"))


def test_checkpoints_and_deliveries_stored_before_the_migration_survive_it(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'old.sqlite3'}", CONSENT_KEY_DIR=str(tmp_path / "keys"))
    db.upgrade(app, "0008_verified_subjects")
    with todays_site_columns(app):
        import_site(app, load_site_config())
        bulk_events(app, "shop", 2)
    signed_at = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    with app.app_context(), db.write_transaction() as session:
        head = session.scalar(sa.text("SELECT event_hash FROM consent_events WHERE seq = 2"))  # a schema before lanes
        old_payload = {"site_id": "shop", "count": 2, "head_hash": head, "time": signed_at.isoformat()}  # no lane
        kid, jws = signing.sign(session, old_payload)
        session.execute(sa.insert(OLD_CHECKPOINTS).values(site_id="shop", count=2, head_hash=head, kid=kid, jws=jws,
                                                          signed_at=signed_at))
        event_id = session.scalar(sa.text("SELECT event_id FROM consent_events WHERE seq = 1"))
        session.execute(sa.insert(OLD_DELIVERIES).values(id=1, site_id="shop", event_id=event_id, status="pending",
                                                         attempts=1, next_attempt_at=signed_at, created_at=signed_at))
        session.execute(sa.insert(OLD_ATTEMPTS).values(delivery_id=1, status_code=503, attempted_at=signed_at))

    db.upgrade(app)

    result = verify(app)
    assert result.exit_code == 0 and "shop: intact, 2 events, 1 signed checkpoints match" in result.output
    outside = tmp_path / "old.json"
    with app.app_context():
        [old] = db.get_session().scalars(select(Checkpoint)).all()
        assert old.lane is None and checkpoints.checkpoint_payload(old) == old_payload
        outside.write_text(json.dumps(checkpoints.checkpoint_json(old)))
        [delivery] = db.get_session().scalars(select(WebhookDelivery)).all()
        assert delivery.event_id == event_id and [attempt.status_code for attempt in delivery.log] == [503]
    assert verify(app, "--checkpoints", str(outside)).exit_code == 0
    with pytest.raises(sa.exc.IntegrityError):  # a delivery carries one message: never none
        with app.app_context(), db.write_transaction() as session:
            session.execute(sa.insert(OLD_DELIVERIES).values(site_id="shop", status="pending", attempts=0,
                                                             next_attempt_at=signed_at, created_at=signed_at))
    db.dispose(app)
