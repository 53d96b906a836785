"""Rate limits: per client address, per site, on reads; refusals are 429 problems and store nothing."""
import pytest

from consent import config
from tests.conftest import SHOP_ORIGIN, ConsentActions, import_site, load_site_config


def post_from(app, address, **changes):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return ConsentActions(client, app).post(**changes)


def assert_refused_as_problem(response):
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 429 and "try again" in response.get_json()["detail"]
    assert int(response.headers["Retry-After"]) > 0


def test_one_client_address_is_limited_and_others_are_not(app_with):
    app = app_with(CONSENT_RATELIMIT_CLIENT="3 per minute")
    statuses = [post_from(app, "198.51.100.7").status_code for _ in range(3)]
    refused = post_from(app, "198.51.100.7")
    other = post_from(app, "198.51.100.8")
    assert statuses == [201, 201, 201]
    assert_refused_as_problem(refused)
    assert other.status_code == 201
    assert len(ConsentActions(app.test_client(), app).stored_events()) == 4


def test_one_site_is_limited_across_clients_and_other_sites_are_not(app_with):
    app = app_with(CONSENT_RATELIMIT_SITE="2 per minute")
    import_site(app, load_site_config(id="other"))
    statuses = [post_from(app, f"198.51.100.{n}").status_code for n in (1, 2)]
    refused = post_from(app, "198.51.100.3")
    other_site = post_from(app, "198.51.100.3", site_id="other")
    assert statuses == [201, 201]
    assert_refused_as_problem(refused)
    assert other_site.status_code == 201
    stored = ConsentActions(app.test_client(), app).stored_events()
    assert sorted(event.site_id for event in stored) == ["other", "shop", "shop"]


@pytest.mark.parametrize(
    ("what", "body"),
    [
        ("refused by the schema", {"site_id": "shop", "choices": "all"}),
        ("unknown site", {"site_id": "nope", "choices": {"necessary": True}}),
        ("site id of the wrong type", {"site_id": ["shop"], "choices": {}}),
        ("not an object", [1, 2, 3]),
    ],
)
def test_refused_attempts_count_against_the_client(app_with, what, body):
    app = app_with(CONSENT_RATELIMIT_CLIENT="2 per minute")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    attempts = [client.post("/api/v1/consents", json=body, headers={"Origin": SHOP_ORIGIN}) for _ in range(3)]
    assert all(400 <= r.status_code < 500 and r.status_code != 429 for r in attempts[:2])
    assert_refused_as_problem(attempts[2])
    assert ConsentActions(client, app).stored_events() == []


def test_reads_are_limited_but_the_widget_script_is_not(app_with):
    app = app_with(CONSENT_RATELIMIT_READS="2 per minute")
    client = app.test_client()
    configs = [client.get("/api/v1/sites/shop/config").status_code for _ in range(3)]
    scripts = {client.get("/static/consent.js").status_code for _ in range(5)}
    assert configs == [200, 200, 429] and scripts == {200}


def test_limit_store_never_sees_a_raw_address(app_with):
    app = app_with()
    post_from(app, "203.0.113.77")
    app.test_client().get("/api/v1/sites/shop/config", environ_base={"REMOTE_ADDR": "203.0.113.77"})
    keys = app.extensions["consent.rate_counters"].keys()  # memory:// counts in this worker's LocalCounters
    assert keys and not any("203.0.113.77" in key for key in keys)
    assert any("reads/client:" in key for key in keys)
    assert any("site:shop" in key for key in keys)


def test_limits_and_their_store_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://limits.internal:6379/0")
    monkeypatch.setenv("CONSENT_RATELIMIT_CLIENT", "5 per second")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    settings = config.from_environment()
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://limits.internal:6379/0"
    assert settings["CONSENT_RATELIMIT_CLIENT"] == "5 per second" and settings["RATELIMIT_ENABLED"] is False


# Requests naming the site that the service refuses: none of them may count against the site.
REFUSED_FOR_THE_SITE = [
    ("another site's page", {"origin": "https://evil.example"}),
    ("no origin at all", {"origin": None}),
    ("invalid body", {"choices": "all"}),
    ("unknown purpose", {"choices": {"necessary": True, "telepathy": True}}),
    ("stale policy version", {"policy_version": "v0"}),
]


@pytest.mark.parametrize(("what", "changes"), REFUSED_FOR_THE_SITE, ids=[what for what, _ in REFUSED_FOR_THE_SITE])
def test_refused_requests_cannot_use_up_a_sites_allowance(app_with, what, changes):
    """A flood of refused requests from many addresses (issue 12, finding 4): visitors still get through."""
    app = app_with(CONSENT_RATELIMIT_SITE="3 per minute", CONSENT_RATELIMIT_CLIENT="2 per minute")
    flood = [post_from(app, f"203.0.113.{n}", **changes).status_code for n in range(1, 21) for _ in range(2)]
    assert 429 not in flood and all(400 <= status < 500 for status in flood), flood
    visitors = [post_from(app, f"198.51.100.{n}").status_code for n in (1, 2, 3)]
    assert visitors == [201, 201, 201]
    assert_refused_as_problem(post_from(app, "198.51.100.4"))  # accepted decisions still count


def test_a_refused_flood_counts_against_the_address_that_sent_it(app_with):
    app = app_with(CONSENT_RATELIMIT_SITE="3 per minute", CONSENT_RATELIMIT_CLIENT="2 per minute")
    attacker = [post_from(app, "203.0.113.9", origin="https://evil.example").status_code for _ in range(3)]
    assert attacker == [403, 403, 429]
    assert post_from(app, "198.51.100.1").status_code == 201


def test_a_repeated_decision_takes_nothing_more_from_the_site(app_with):
    app = app_with(CONSENT_RATELIMIT_SITE="2 per minute")
    first = post_from(app, "203.0.113.1", idempotency_key="replayed-0001")
    repeats = {post_from(app, f"203.0.113.{n}", idempotency_key="replayed-0001").status_code for n in range(2, 12)}
    assert first.status_code == 201 and repeats == {200}
    assert post_from(app, "198.51.100.1").status_code == 201
    assert_refused_as_problem(post_from(app, "198.51.100.2"))
