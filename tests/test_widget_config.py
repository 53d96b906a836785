"""The widget's config as served: rendered once per worker, revalidated by its ETag, never stale."""
import pytest
from sqlalchemy import event

from consent.sites import configs
from consent.storage import db
from tests.conftest import SHOP_ORIGIN, STORAGE_AGNOSTIC, import_site, load_site_config

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py

CONFIG = "/api/v1/sites/shop/config?lang=en"


def test_config_is_revalidated_by_its_etag(client):
    first = client.get(CONFIG, headers={"Origin": SHOP_ORIGIN})
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = client.get(CONFIG, headers={"Origin": SHOP_ORIGIN, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN


@pytest.mark.parametrize(
    "validator",
    ['"not-ours"', 'W/"not-ours"', "", ",,,", "garbage without quotes", '"' + "a" * 4000 + '"', '"\u00e9\u00e9"'],
)
def test_any_other_validator_gets_the_whole_config(client, validator):
    response = client.get(CONFIG, headers={"If-None-Match": validator})
    assert response.status_code == 200
    assert response.get_json()["texts"]["title"] == "Your privacy choices"


@pytest.mark.parametrize(
    ("change", "seen"),
    [
        ({"policy": {**load_site_config()["policy"], "version": "v2"}},
         lambda config: config["policy"]["version"] == "v2"),
        ({"age_gate": True}, lambda config: config["age_gate"] is True),
        ({"name": {"zh-CN": "新名字", "en": "Renamed Shop"}}, lambda config: config["name"] == "新名字"),
        ({"default_language": "en"}, lambda config: config["language"] == "en"),
    ],
)
def test_a_changed_site_is_never_answered_from_the_cache(app, client, change, seen):
    url = "/api/v1/sites/shop/config"  # the site's own language: a change of it must show too
    before = client.get(url)
    assert not seen(before.get_json())
    import_site(app, {**load_site_config(), **change})
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and seen(after.get_json())
    assert after.headers["ETag"] != before.headers["ETag"]


def test_the_archive_link_is_on_the_public_url_whatever_the_host(client):
    one = client.get(CONFIG, base_url="http://one.example").get_json()["policy"]["archive_url"]
    two = client.get(CONFIG, headers={"Host": "evil.example"}).get_json()["policy"]["archive_url"]
    assert one == two == "http://localhost/policies/shop/v1"  # CONSENT_PUBLIC_URL in tests


def test_a_cached_answer_costs_one_lookup_and_says_the_same(app, client):
    fresh = client.get(CONFIG)
    statements = []

    def record(_connection, _cursor, statement, *_rest):
        statements.append(statement)

    engine = db.get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        cached = client.get(CONFIG)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    [lookup] = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert "FROM sites" in lookup
    assert cached.data == fresh.data and cached.headers["ETag"] == fresh.headers["ETag"]


@pytest.mark.parametrize("site_id", ["nope", "shop\x00", "a" * 300, "..", "SHOP"])
def test_config_of_a_site_that_is_not_here_is_a_problem(client, site_id):
    response = client.get(f"/api/v1/sites/{site_id}/config", headers={"If-None-Match": "*"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_a_cookie_domain_reaches_the_widget_and_survives_export(app, client):
    assert "cookie_domain" not in client.get(CONFIG).get_json()
    import_site(app, load_site_config(allowed_origins=["https://www.shop.example"], cookie_domain="shop.example"))
    assert client.get(CONFIG).get_json()["cookie_domain"] == "shop.example"
    with app.app_context():
        exported = configs.export_site(db.get_session(), "shop")
    assert exported["cookie_domain"] == "shop.example"
    import_site(app, {**exported, "cookie_domain": None})  # taken away again: each host keeps its own
    assert "cookie_domain" not in client.get(CONFIG).get_json()
