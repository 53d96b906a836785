"""A site's log in several lanes (issue 19): each lane a hash chain of its own, people pinned to one, checkpoints
over every lane's head, `log verify` naming the lane and event of a break, and single-lane logs valid as they were."""
import base64
import hashlib
import json
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from consent.errors import InvalidRequest
from consent.ledger import lanes, writer
from consent.ledger.checkpoints import verify_position
from consent.proof.verify import canonical_json, lanes_root
from consent.sites import configs
from consent.storage import db
from consent.storage.models import ConsentEvent, Subject
from consent.subjects import identity
from tests.audit_support import drop_append_only_triggers, run_sql
from tests.conftest import import_site, load_site_config
from tests.conftest import visitor_credential as visitor
from tests.test_log import checkpoint, verify


def with_lanes(app, count):
    import_site(app, load_site_config(lanes=count))


def lane_of_visitor(app, secret, count=4):
    with app.app_context():
        return lanes.visitor_lane(identity.visitor_ref("shop", secret), count)


def events_by_lane(consent):
    found = {}
    for event in consent.stored_events():
        found.setdefault(event.lane, []).append(event)
    return {lane: sorted(events, key=lambda event: event.seq) for lane, events in found.items()}


@pytest.fixture
def four_lanes(app, consent):
    """A site of four lanes and 24 anonymous visitors' decisions, spread over them."""
    with_lanes(app, 4)
    for number in range(24):
        assert consent.post(visitor_secret=visitor(number)).status_code == 201
    return events_by_lane(consent)


def test_each_lane_is_a_chain_of_its_own(app, consent, four_lanes):
    assert len(four_lanes) >= 3  # 24 visitors over 4 lanes
    for lane, events in four_lanes.items():
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
        previous = "0" * 64
        for event in events:
            document = json.loads(event.document)
            assert document.get("lane", 0) == lane and ("lane" in document) == (lane != 0)
            assert document["prev_hash"] == previous == event.prev_hash
            assert hashlib.sha256(event.document.encode()).hexdigest() == event.event_hash
            previous = event.event_hash
    counts = ", ".join(str(len(four_lanes.get(lane, []))) for lane in range(4))
    result = verify(app)
    assert result.exit_code == 0
    assert f"shop: intact, 24 events in 4 lanes ({counts})" in result.output, result.output


def test_a_visitor_stays_in_the_lane_their_reference_names(app, consent):
    with_lanes(app, 4)
    secret = visitor(7)
    for _ in range(3):
        assert consent.post(visitor_secret=secret).status_code == 201
    assert {event.lane for event in consent.stored_events()} == {lane_of_visitor(app, secret)}


def test_a_user_keeps_their_lane_when_lanes_are_raised_and_their_login_link_goes_there(app, consent):
    with_lanes(app, 2)
    first = consent.post(**consent.user("user-1"), visitor_secret=visitor(1))
    assert first.status_code == 201
    with app.app_context():
        stored = db.get_session().scalar(select(Subject.lane).where(Subject.subject_id == "user-1"))
        assert stored == lanes.subject_lane("shop", "user-1", 2)
    with_lanes(app, 4)
    # A visitor whose anonymous decisions are in another lane than the user's logs in: the link is the user's.
    other = next(number for number in range(100, 200) if lane_of_visitor(app, visitor(number)) != stored)
    anonymous = consent.post(visitor_secret=visitor(other)).get_json()
    linked = consent.post(**consent.user("user-1"), visitor_secret=visitor(other), collection_method="link",
                          links_receipt_id=anonymous["receipt_id"])
    assert linked.status_code == 201, linked.get_json()
    for number in range(2, 12):
        assert consent.post(**consent.user("user-1"), visitor_secret=visitor(number)).status_code == 201
    by_user = [event for event in consent.stored_events() if event.subject_ref]
    assert len(by_user) == 12 and {event.lane for event in by_user} == {stored}
    assert [event.lane for event in consent.stored_events() if event.receipt.receipt_id == anonymous["receipt_id"]
            ] == [lane_of_visitor(app, visitor(other))]
    assert verify(app).exit_code == 0


@pytest.mark.parametrize(("value", "message"), [
    (0, "1 to 64 lanes"), (65, "1 to 64 lanes"), ("4", "whole number of lanes"), (2.5, "whole number of lanes"),
    (True, "whole number of lanes"), (-3, "1 to 64 lanes"),
])
def test_the_lane_count_is_checked(app, value, message):
    with pytest.raises(InvalidRequest) as refused:
        configs.validate_config(load_site_config(lanes=value))
    assert message in json.dumps(refused.value.errors)


def test_lanes_are_raised_never_lowered_and_a_file_without_them_keeps_them(app, consent):
    with_lanes(app, 4)
    with pytest.raises(InvalidRequest, match="raised, never lowered"):
        with_lanes(app, 2)
    import_site(app, load_site_config())  # a file that says nothing of lanes
    with app.app_context():
        exported = configs.export_site(db.get_session(), "shop")
    assert exported["lanes"] == 4
    assert consent.post(visitor_secret=visitor(1)).status_code == 201


def test_log_verify_names_the_lane_and_event_after_an_edit(app, four_lanes):
    lane = next(lane for lane, events in sorted(four_lanes.items()) if lane and len(events) >= 2)
    drop_append_only_triggers(app)
    edited = json.loads(four_lanes[lane][1].document) | {"action": "accept_all"}
    run_sql(app, ("UPDATE consent_events SET document = :document WHERE site_id = 'shop' AND lane = :lane "
                  "AND seq = 2", {"document": canonical_json(edited), "lane": lane}))
    result = verify(app)
    assert result.exit_code == 1
    assert f"shop: BROKEN at lane {lane}, event 2 (consent_events.document)" in result.output, result.output


def test_an_event_moved_to_another_lane_is_caught(app, four_lanes):
    lane = next(lane for lane, events in sorted(four_lanes.items()) if lane and events)
    drop_append_only_triggers(app)
    last = four_lanes[lane][-1]
    run_sql(app, f"UPDATE consent_events SET lane = 9 WHERE event_id = '{last.event_id}'")
    result = verify(app)
    assert result.exit_code == 1
    assert f"BROKEN at lane 9, event {last.seq} (consent_events.lane)" in result.output, result.output


def test_a_checkpoint_signs_every_lanes_head_under_one_merkle_root(app, client, four_lanes):
    assert checkpoint(app).exit_code == 0
    published = client.get("/api/v1/sites/shop/checkpoints/latest").get_json()
    heads = [[len(four_lanes.get(lane, [])), four_lanes[lane][-1].event_hash if lane in four_lanes else "0" * 64]
             for lane in range(4)]
    assert published["lanes"] == heads and published["count"] == 24
    assert published["head_hash"] == lanes_root(heads) and "lane" not in published
    signed = json.loads(lanes_b64decode(published["jws"].split(".")[1]))
    assert {key: signed[key] for key in ("lanes", "count", "head_hash")} == {
        key: published[key] for key in ("lanes", "count", "head_hash")}
    assert "4 lanes" in checkpoint(app).output  # unchanged since: the same checkpoint
    result = verify(app)
    assert result.exit_code == 0 and "1 signed checkpoints match" in result.output


def lanes_b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_a_lane_cut_short_is_caught_by_the_checkpoint_and_named(app, tmp_path, four_lanes):
    assert checkpoint(app).exit_code == 0
    lane = next(lane for lane, events in sorted(four_lanes.items()) if lane and len(events) >= 2)
    last = four_lanes[lane][-1]
    drop_append_only_triggers(app)
    run_sql(app, f"DELETE FROM receipt_signatures WHERE receipt_id IN "
                 f"(SELECT receipt_id FROM receipts WHERE event_id = '{last.event_id}')",
            f"DELETE FROM receipts WHERE event_id = '{last.event_id}'",
            f"DELETE FROM consent_events WHERE event_id = '{last.event_id}'")
    result = verify(app)
    assert result.exit_code == 1
    assert (f"BROKEN at lane {lane}, event {last.seq}: checkpoint 1 signed {last.seq} events of lane {lane}, "
            f"the log now holds {last.seq - 1}") in result.output, result.output
    outside = app.test_cli_runner().invoke(args=["consent", "log", "verify", "--checkpoints",
                                                 str(tmp_path / "checkpoints.jsonl")])
    assert f"it signed {last.seq} events of lane {lane}, the log now holds {last.seq - 1}" in outside.output


def test_a_single_lane_log_stays_valid_when_lanes_are_raised(app, client, consent):
    for number in range(5):
        assert consent.post(visitor_secret=visitor(number)).status_code == 201
    assert checkpoint(app).exit_code == 0  # a checkpoint of one lane, as before lanes
    first = client.get("/api/v1/sites/shop/checkpoints/latest").get_json()
    assert first["lane"] == 0 and "lanes" not in first
    with_lanes(app, 4)
    for number in range(5, 25):
        assert consent.post(visitor_secret=visitor(number)).status_code == 201
    assert checkpoint(app).exit_code == 0
    result = verify(app)
    assert result.exit_code == 0 and "2 signed checkpoints match" in result.output, result.output
    with app.app_context():
        session = db.get_session()
        oldest = session.scalars(select(ConsentEvent).where(ConsentEvent.lane == 0, ConsentEvent.seq == 2)).one()
        position = verify_position(session, oldest)
    assert position.verified and position.covered_by["count"] == 5  # the single-lane checkpoint covers it


def test_a_checkpoint_covers_an_event_of_a_later_lane(app, consent, four_lanes):
    assert checkpoint(app).exit_code == 0
    lane = max(four_lanes)
    with app.app_context():
        session = db.get_session()
        event = session.scalars(select(ConsentEvent).where(ConsentEvent.lane == lane, ConsentEvent.seq == 1)).one()
        position = verify_position(session, event)
    assert position.verified and position.covered_by["lanes"][lane][0] == len(four_lanes[lane])


def leaf(lane, count, head):
    return hashlib.sha256(b"\x00" + json.dumps([lane, count, head], separators=(",", ":")).encode()).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_the_lanes_root_is_an_rfc_6962_tree_head():
    heads = [[lane + 1, f"{lane:064x}"] for lane in range(5)]
    a, b, c, d, e = (leaf(lane, *head) for lane, head in enumerate(heads))
    assert lanes_root(heads[:1]) == a.hex()
    assert lanes_root(heads[:2]) == node(a, b).hex()
    assert lanes_root(heads[:3]) == node(node(a, b), c).hex()
    assert lanes_root(heads) == node(node(node(a, b), node(c, d)), e).hex()
    assert lanes_root([[1, "0" * 64], [2, "0" * 64]]) != lanes_root([[2, "0" * 64], [1, "0" * 64]])


def test_writers_of_two_lanes_do_not_wait_for_each_other(app, consent):
    """On PostgreSQL each lane has its own lock: a writer holding one lane's does not hold up another lane."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time for the whole database")
    with_lanes(app, 4)
    held_lane = lane_of_visitor(app, visitor(1))
    free = next(number for number in range(2, 100) if lane_of_visitor(app, visitor(number)) != held_lane)
    with app.app_context(), db.get_engine(app).connect() as holder:
        # What a writer of that lane holds while it links and inserts its decisions.
        writer._lock_lanes(holder, [SimpleNamespace(site=SimpleNamespace(id="shop"), lane=held_lane)])
        assert consent.post(visitor_secret=visitor(free)).status_code == 201  # another lane: not held up
        blocked = threading.Thread(target=lambda: consent_in_thread(app, visitor(1)), daemon=True)
        blocked.start()
        blocked.join(timeout=1.5)
        assert blocked.is_alive()  # the held lane's writer waits
        holder.rollback()  # the lock goes with the transaction
    blocked.join(timeout=10)
    assert not blocked.is_alive()
    assert {event.lane for event in consent.stored_events()} == {held_lane, lane_of_visitor(app, visitor(free))}


def consent_in_thread(app, secret):
    from tests.conftest import ConsentActions

    assert ConsentActions(app.test_client(), app).post(visitor_secret=secret).status_code == 201


def test_the_migration_round_trips_a_single_lane_log_and_refuses_to_undo_lanes(app, consent, four_lanes):
    with pytest.raises(RuntimeError, match="several lanes"):
        db.downgrade(app, "0020_site_revision")
    assert verify(app).exit_code == 0


def test_the_migration_keeps_a_log_of_one_lane_and_its_guards(app, consent):
    for number in range(4):
        assert consent.post(visitor_secret=visitor(number)).status_code == 201
    assert checkpoint(app).exit_code == 0
    db.downgrade(app, "0020_site_revision")
    db.upgrade(app)
    result = verify(app)
    assert result.exit_code == 0 and "4 events, 1 signed checkpoints match" in result.output, result.output
    with pytest.raises(Exception, match="append-only"):
        run_sql(app, "UPDATE consent_events SET action = 'accept_all' WHERE seq = 2")
    with pytest.raises(Exception, match="UNIQUE|unique|duplicate"):
        run_sql(app, "INSERT INTO consent_events (site_id, lane, seq, event_id, visitor_id, policy_version, action, "
                     "created_at, document, prev_hash, event_hash) SELECT site_id, lane, seq, 'x', visitor_id, "
                     "policy_version, action, created_at, document, prev_hash, event_hash FROM consent_events "
                     "WHERE seq = 1")
