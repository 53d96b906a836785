"""Issue 18, a lean decision path: what was cut from each decision, and that nothing it guarded was cut with it.

A decision reads nothing before its write: the site, its origins and its policy come from the worker's
copy, which the chain writer confirms by the site's revision under the write lock. Another worker's (or
host's) change is therefore seen by the next decision, never missed. The answer embeds the receipt as
stored and signed; the limits count without a timer thread; PostgreSQL connections are pinged only when
they have been idle, and a connection that died meanwhile is replaced without the visitor seeing it.
"""
import base64
import gc
import json
import runpy
import threading
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import event, make_url, select

from bench.latency_proxy import LatencyProxy
from consent.http.local_counters import LocalCounters
from consent.ledger import receipts, writer
from consent.proof.verify import canonical_json
from consent.storage import db
from consent.storage.models import Receipt
from tests.conftest import ConsentActions, import_site, load_site_config

NEW_ORIGIN = "https://new.shop.example"
ROOT = Path(__file__).resolve().parent.parent


def decide(app, **changes):
    return ConsentActions(app.test_client(), app).post(**changes)


def stored_count(app):
    return len(ConsentActions(app.test_client(), app).stored_events())


# --- No read before the write -----------------------------------------------------------------------------


def test_a_decision_reads_nothing_before_its_write(app_with, database_url):
    """Before: a read transaction for the site, its origin and policy, then the write (two BEGINs a decision)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's trace callback sees every statement a connection runs, the driver's own included")
    app = app_with()
    assert decide(app).status_code == 201  # the worker reads the site once
    statements = []
    engine = db.get_engine(app)
    db.dispose(app)  # every connection from now on is traced

    @event.listens_for(engine, "connect")
    def trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(statements.append)

    assert decide(app).status_code == 201
    executed = [statement for statement in statements if not statement.startswith("PRAGMA")]  # a new connection's
    verbs = [statement.split()[0].upper() for statement in executed]
    assert verbs == ["BEGIN", "SELECT", "SELECT", "INSERT", "INSERT", "INSERT", "COMMIT"], statements
    assert executed[0] == "BEGIN IMMEDIATE"


# --- A change made elsewhere is seen by the next decision ----------------------------------------------------


def test_origins_changed_by_another_worker_apply_to_the_next_decision(app_with):
    worker, other = app_with(), app_with()
    assert decide(worker).status_code == 201  # the worker's copy: shop.example may embed the widget
    import_site(other, load_site_config(allowed_origins=[NEW_ORIGIN]))
    refused = decide(worker)
    assert refused.status_code == 403 and refused.get_json()["type"].endswith("/origin-not-allowed")
    assert decide(worker, origin=NEW_ORIGIN).status_code == 201
    assert stored_count(worker) == 2


def test_a_policy_and_a_name_published_by_another_worker_apply_to_the_next_decision(app_with):
    worker, other = app_with(), app_with()
    assert decide(worker).status_code == 201
    config = load_site_config()
    config["policy"]["version"] = "v2"
    config["name"] = {"zh-CN": "新的商城", "en": "New shop"}
    import_site(other, config)
    stale = decide(worker)
    assert stale.status_code == 409 and stale.get_json()["type"].endswith("/stale-policy-version")
    fresh = decide(worker, policy_version="v2")
    assert fresh.status_code == 201
    assert fresh.get_json()["receipt"]["services"][0]["service"] == "新的商城"
    assert stored_count(worker) == 2


def test_an_origin_added_elsewhere_is_accepted_at_once(app_with):
    """The worker's copy would refuse the new origin: a refusal is asked of the database before it is given."""
    worker, other = app_with(), app_with()
    assert decide(worker).status_code == 201
    import_site(other, load_site_config(allowed_origins=["https://shop.example", NEW_ORIGIN]))
    assert decide(worker, origin=NEW_ORIGIN).status_code == 201


def test_an_origin_removed_elsewhere_gets_no_history_link_from_a_worker_that_knew_it(app_with):
    """Only decisions use the worker's copy (their write confirms it); a visitor's history link reads the site."""
    worker, other = app_with(), app_with()
    secret = "s" * 43
    assert decide(worker, visitor_secret=secret).status_code == 201
    link = {"json": {"visitor_secret": secret}, "headers": {"Origin": "https://shop.example"}}
    assert worker.test_client().post("/api/v1/sites/shop/history-link", **link).status_code == 200
    import_site(other, load_site_config(allowed_origins=[NEW_ORIGIN]))
    refused = worker.test_client().post("/api/v1/sites/shop/history-link", **link)
    assert refused.status_code == 403 and refused.get_json()["type"].endswith("/origin-not-allowed")


def test_a_site_that_keeps_changing_refuses_the_decision_without_storing_it(app_with, monkeypatch):
    app = app_with()

    def always_stale(_decision):
        raise writer.Stale()

    monkeypatch.setattr(writer, "append", always_stale)
    refused = decide(app)
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("/site-changed") and refused.get_json()["action"] == "retry"
    monkeypatch.undo()
    assert stored_count(app) == 0


# --- The answer: the receipt as stored and signed ----------------------------------------------------------


def test_the_answer_embeds_the_receipt_exactly_as_stored_and_signed(app_with):
    app = app_with()
    answer = decide(app)
    body = answer.get_data(as_text=True)
    result = answer.get_json()
    with app.app_context():
        stored = db.get_session().scalar(select(Receipt.document).where(Receipt.receipt_id == result["receipt_id"]))
    payload = result["jws"].split(".")[1]
    signed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert f'"receipt":{stored}' in body and signed == stored
    assert json.loads(stored) == result["receipt"] and "示例商城" in body  # UTF-8 as stored, not escaped


def test_every_stored_receipt_is_the_canonical_json_of_its_document(app_with):
    """The purposes are spliced in as text made once per worker: each variant of them, in both languages, with and
    without a separate consent and an expiry, must come out as canonical_json would encode the whole receipt."""
    app = app_with()
    everything = {"necessary": True, "analytics": True, "advertising": True, "marketing_sms": True,
                  "personalized_recommendation": True, "cross_border_transfer": True}
    consent = ConsentActions(app.test_client(), app)
    bodies = [{}, {"language": "en"}, {"choices": everything, "separate_consents": ["cross_border_transfer"]},
              {"choices": {**everything, "cross_border_transfer": False}, "language": "en"}, {}]
    for changes in bodies:
        assert consent.post(**changes).status_code == 201
    stored = consent.stored_receipts()
    assert len(stored) == len(bodies)
    for receipt in stored:
        assert receipt.document == canonical_json(json.loads(receipt.document))
    # The spliced purposes are shared between decisions: what one receipt was given, another did not change.
    given = [{p["purposeId"]: p["consentGiven"] for p in json.loads(r.document)["services"][0]["purposes"]}
             for r in sorted(stored, key=lambda r: r.created_at)]
    assert given[0]["analytics"] is False and given[2]["analytics"] is True and given[4] == given[0]


@pytest.mark.parametrize("document", [{}, {"a": 1}, {"z": [1, "二"]}, {"a": None, "z": {"y": 1, "b": 2}},
                                      {"service": 1, "servicez": 2, "Services": 3}])
def test_a_member_spliced_in_as_text_sorts_as_canonical_json_would(document):
    value = {"purposes": [{"b": 1, "a": "文"}], "service": "x"}
    spliced = receipts.canonical_with_member(document, "services", canonical_json(value))
    assert spliced == canonical_json({**document, "services": value})


# --- Limits without a timer thread ------------------------------------------------------------------------


def test_decisions_start_no_thread_to_expire_their_limits(app_with):
    """Before: limits' MemoryStorage restarted a timer thread every 10 ms to walk every key."""
    app = app_with()
    before = set(threading.enumerate())
    assert [decide(app).status_code for _ in range(3)] == [201, 201, 201]
    assert set(threading.enumerate()) - before == set()


def test_local_counters_keep_fixed_windows_and_drop_ended_ones(monkeypatch):
    from limits import parse

    now = [1_000_000.0]
    monkeypatch.setattr("consent.http.local_counters.time.time", lambda: now[0])
    counters, limit = LocalCounters(), parse("2 per minute")
    assert [counters.hit(limit, "a") for _ in range(3)] == [True, True, False]  # refused attempts count too
    assert not counters.test(limit, "a") and counters.test(limit, "b")
    assert counters.window(limit, "a") == (1_000_060.0, 0)
    now[0] += 59
    assert not counters.hit(limit, "a")
    now[0] += 1  # the window ended: a new one starts at the next hit
    assert counters.test(limit, "a") and counters.hit(limit, "a")
    assert counters.window(limit, "a") == (1_000_120.0, 1)
    counters.hit(limit, "b")
    now[0] += 120  # both windows ended; the next hit, a minute after the last sweep, sweeps them away
    counters.hit(limit, "c")
    assert counters.keys() == [limit.key_for("c")]


# --- No full collection walks the whole heap ----------------------------------------------------------------


def test_a_gunicorn_worker_freezes_what_its_first_requests_built_and_later_what_rarer_ones_did():
    """Before: every few thousand requests, Python's full collection walked the worker's whole heap (40 ms on
    the benchmark machine, both workers at once): the p99 at half load. Frozen objects are left out of it."""
    assert gc.get_freeze_count() == 0
    post_request = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_request"]
    worker, frozen, built = SimpleNamespace(nr=0), [], []
    try:
        for worker.nr in range(1, 1001):
            post_request(worker, None, None, None)
            frozen.append(gc.get_freeze_count())
            built.append([worker.nr])  # what requests leave behind for the worker's life
        assert frozen[98] == 0 < frozen[99]
        assert frozen[99] == frozen[998] < frozen[999]  # the later freeze takes what came since
        assert frozen[999] - frozen[998] >= 900
    finally:
        gc.unfreeze()


def test_a_threaded_worker_freezes_once_for_each_step_however_its_threads_finish():
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    worker = SimpleNamespace(nr=100)
    threads = [threading.Thread(target=conf["post_request"], args=(worker, None, None, None)) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert gc.get_freeze_count() > 0 and conf["_freezes_due"] == [1000]
    finally:
        gc.unfreeze()


# --- PostgreSQL: no ping per checkout, and a dead connection is replaced ---------------------------------------


def test_a_busy_worker_does_not_ping_and_a_connection_killed_while_idle_is_replaced(app_with, database_url,
                                                                                    monkeypatch):
    if database_url.startswith("sqlite"):
        pytest.skip("A PostgreSQL server's connections")
    app = app_with()
    pings = []
    real_answers = db._answers
    monkeypatch.setattr(db, "_answers", lambda connection: pings.append(1) or real_answers(connection))
    assert [decide(app).status_code for _ in range(5)] == [201] * 5
    assert pings == []  # before: pool_pre_ping, a round trip at every checkout, two per decision
    # The server ends every connection of the app (a restart, a firewall); they are idle long enough to ping.
    url = db.get_engine(app).url
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                         autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    monkeypatch.setattr(db, "PING_AFTER_SECONDS", 0)
    assert decide(app).status_code == 201
    assert pings and stored_count(app) == 6


def test_a_decision_on_postgresql_makes_three_round_trips_one_under_the_sites_lock(app_with, database_url):
    """With the database on another host each round trip under the site's lock is time no other decision of the
    site can use (bench/single_site.py, README "Scale-out"). Before: 7 round trips, BEGIN, the lock, the head,
    three inserts and COMMIT, 5 of them under the lock. Now the lock and the head go in one pipeline, the
    inserts and the COMMIT in another: BEGIN, lock and head, inserts and COMMIT."""
    if database_url.startswith("sqlite"):
        pytest.skip("Round trips to a PostgreSQL server")
    url = make_url(database_url)
    with LatencyProxy(url.host, url.port, 0) as proxy:
        app = app_with(DATABASE_URL=url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        # Past what only a worker's first decisions do: reading the site, psycopg preparing the statements.
        assert [decide(app).status_code for _ in range(10)] == [201] * 10
        before = proxy.round_trips
        assert [decide(app).status_code for _ in range(10)] == [201] * 10
        assert (proxy.round_trips - before) / 10 == 3
        assert stored_count(app) == 20
