"""Concurrent decisions: writers take turns, the chain stays one line, a retried key is stored once."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from consent.ledger.chain import verify_chain
from consent.storage import db
from tests.conftest import ROOMY_LIMITS, ConsentActions, make_app

WRITERS = 4
DECISIONS_EACH = 8


def test_concurrent_decisions_make_one_unbroken_chain(app_with):
    app = app_with()

    def post_several(writer):
        actions = ConsentActions(app.test_client(), app)
        return [actions.post(visitor_id=f"writer-{writer}-visitor").status_code for _ in range(DECISIONS_EACH)]

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = [status for batch in pool.map(post_several, range(WRITERS)) for status in batch]
    assert statuses == [201] * WRITERS * DECISIONS_EACH
    with app.app_context():
        report = verify_chain(db.get_session(), "shop")
    assert report.intact and report.events_checked == WRITERS * DECISIONS_EACH


def test_two_workers_writing_at_once_make_one_unbroken_chain(app_with, database_url):
    """Two worker processes' worth of state (each its own chain writer and pool) on one database:
    their writers meet on the database's own lock, and the second must link after the first."""
    workers = [app_with(), make_app(database_url, **ROOMY_LIMITS)]
    barrier = threading.Barrier(WRITERS)

    def post_several(writer):
        app = workers[writer % len(workers)]
        actions = ConsentActions(app.test_client(), app)
        barrier.wait()
        return [actions.post(visitor_id=f"writer-{writer}-visitor").status_code for _ in range(DECISIONS_EACH)]

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = [status for batch in pool.map(post_several, range(WRITERS)) for status in batch]
    db.dispose(workers[1])
    assert statuses == [201] * WRITERS * DECISIONS_EACH
    with workers[0].app_context():
        report = verify_chain(db.get_session(), "shop")
    assert report.intact and report.events_checked == WRITERS * DECISIONS_EACH


def test_retries_of_one_key_racing_store_one_decision(app_with):
    app = app_with()
    barrier = threading.Barrier(WRITERS)

    def retry():
        actions = ConsentActions(app.test_client(), app)
        barrier.wait()
        return actions.post(idempotency_key="same-key-from-a-flaky-network")

    with ThreadPoolExecutor(WRITERS) as pool:
        answers = list(pool.map(lambda _n: retry(), range(WRITERS)))
    assert sorted(answer.status_code for answer in answers) == [200] * (WRITERS - 1) + [201]
    assert len({answer.get_json()["receipt_id"] for answer in answers}) == 1
    assert len(ConsentActions(None, app).stored_events()) == 1


def test_sqlite_writers_queue_on_the_lock_file(app_with):
    app = app_with()
    queue_path = app.extensions["consent.db.writer_queue"]
    if queue_path is None:
        pytest.skip("PostgreSQL orders writers with row locks")
    inside = threading.Event()

    def write():
        with app.app_context(), db.write_transaction():
            inside.set()

    with db.writer_queue(queue_path):
        writer = threading.Thread(target=write)
        writer.start()
        assert not inside.wait(0.2), "a writer got in while another held the queue"
    assert inside.wait(10)
    writer.join()
