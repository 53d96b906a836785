"""The per-site hash chain that every recorded event joins."""
import json

from consent.ledger.chain import GENESIS_HASH, event_hash, verify_chain
from consent.storage import db


def test_events_form_a_hash_chain(consent):
    for _ in range(3):
        assert consent.post().status_code == 201
    events = consent.stored_events()
    assert [event.seq for event in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.event_hash
    for event in events:
        document = json.loads(event.document)
        assert document["prev_hash"] == event.prev_hash and document["seq"] == event.seq
        assert event_hash(document) == event.event_hash


def test_refused_posts_do_not_break_the_chain(consent):
    assert consent.post().status_code == 201
    assert consent.post(policy_version="old").status_code == 409
    assert consent.post().status_code == 201
    first, second = consent.stored_events()
    assert second.seq == 2 and second.prev_hash == first.event_hash


def test_verify_chain_accepts_an_intact_chain(app, consent):
    for _ in range(5):
        consent.post()
    with app.app_context():
        report = verify_chain(db.get_session(), "shop")
    assert report.intact and report.events_checked == 5
    assert report.head_hash == consent.stored_events()[-1].event_hash
