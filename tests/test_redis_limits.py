"""Rate limits in a real Redis (issue 19): one count for every worker, no raw address in the store, and an
outage that lets decisions through (fail open: README, "Abuse resistance") with an error in the log."""
import logging

import pytest
import redis

from tests.conftest import STORAGE_AGNOSTIC, ConsentActions
from tests.redis_server import TemporaryRedis

pytestmark = STORAGE_AGNOSTIC  # the limits' logic over a store; tests/conftest.py
ADDRESS = "198.51.100.19"


@pytest.fixture(scope="module")
def redis_server():
    server = TemporaryRedis().start()
    yield server
    server.remove()


@pytest.fixture
def store(redis_server):
    if not redis_server.answers():
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


def post(app, address=ADDRESS, **changes):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return ConsentActions(client, app).post(**changes).status_code


def test_a_clients_limit_is_one_count_across_workers(app_with, redis_server, store):
    workers = [app_with(RATELIMIT_STORAGE_URI=redis_server.url, CONSENT_RATELIMIT_CLIENT="3 per minute")
               for _ in range(2)]
    statuses = [post(workers[n % 2]) for n in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert post(workers[1], address="198.51.100.20") == 201  # another address has its own count


def test_a_sites_limit_is_one_count_across_workers(app_with, redis_server, store):
    workers = [app_with(RATELIMIT_STORAGE_URI=redis_server.url, CONSENT_RATELIMIT_SITE="2 per minute")
               for _ in range(2)]
    statuses = [post(workers[n % 2], address=f"198.51.100.{30 + n}") for n in range(3)]
    assert statuses == [201, 201, 429]


def test_the_store_holds_no_raw_address(app_with, redis_server, store):
    app = app_with(RATELIMIT_STORAGE_URI=redis_server.url)
    assert post(app) == 201
    app.test_client().get("/api/v1/sites/shop/config", environ_base={"REMOTE_ADDR": ADDRESS})
    keys = [key.decode() for key in store.keys("*")]
    assert any("client:" in key for key in keys) and any("site:shop" in key for key in keys)
    assert not any(ADDRESS in key for key in keys)


def test_an_outage_lets_decisions_through_and_says_so_once(app_with, redis_server, store, caplog):
    caplog.set_level(logging.ERROR, logger="consent.limits")
    app = app_with(RATELIMIT_STORAGE_URI=redis_server.url, CONSENT_RATELIMIT_CLIENT="1 per minute")
    assert [post(app), post(app)] == [201, 429]
    redis_server.stop()
    assert [post(app) for _ in range(3)] == [201, 201, 201]  # unlimited while the store is away
    outage = [record for record in caplog.records if "cannot be reached" in record.getMessage()]
    assert len(outage) == 1 and ADDRESS not in outage[0].getMessage()
    redis_server.start()  # back, empty: counting starts again
    assert [post(app), post(app)] == [201, 429]
    assert len(ConsentActions(app.test_client(), app).stored_events()) == 5
