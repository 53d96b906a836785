"""The banner's anonymous marks (POST /api/v1/sites/<site>/funnel): what is stored, what is refused, what is logged.

A mark holds a time (the service's), a language, an outcome and, for a decision, its seconds; nothing about who
sent it, in the table or in the request log (README, "Banner statistics: what is counted, and on what legal footing").
"""
import json
import logging
import re
import urllib.request
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from consent.http.clients import client_hash
from consent.sites import configs
from consent.storage import db
from consent.storage.operations import FunnelMark
from tests.browser.conftest import BackgroundServer
from tests.conftest import SHOP_ORIGIN, import_site, load_site_config
from tests.test_admin import new_site_fields

URL = "/api/v1/sites/shop/funnel"
ADDRESS = "198.51.100.23"
OTHER_ORIGIN = "https://other.example"
BEACON = {"Content-Type": "text/plain;charset=UTF-8"}  # what navigator.sendBeacon sends with a string


def send(client, body, origin=SHOP_ORIGIN, url=URL, headers=None):
    """POST a mark as the widget's beacon does: the JSON as text/plain (bytes and str are sent as they are)."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, headers={**BEACON, **({"Origin": origin} if origin else {}), **(headers or {})})


def stored_marks(app):
    with app.app_context():
        return [(mark.site_id, mark.language, mark.outcome, mark.seconds)
                for mark in db.get_session().scalars(select(FunnelMark).order_by(FunnelMark.id))]


def assert_refused(response, status, app):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == status and response.get_json()["detail"]
    assert "Set-Cookie" not in response.headers
    assert stored_marks(app) == []


# --- What is stored -----------------------------------------------------------------------------------------


def test_a_shown_mark_stores_one_row_with_the_services_time_and_answers_204_with_cors(app, client, clock):
    clock.set(datetime(2026, 3, 1, 8, 30, tzinfo=UTC))
    response = send(client, {"mark": "shown", "language": "zh-CN"})
    assert response.status_code == 204 and response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert "Origin" in response.headers["Vary"] and response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    with app.app_context():
        [mark] = db.get_session().scalars(select(FunnelMark)).all()
        columns = {column: getattr(mark, column) for column in FunnelMark.__table__.columns.keys()}
    assert columns.pop("at").replace(tzinfo=UTC) == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert columns == {"id": mark.id, "site_id": "shop", "language": "zh-CN", "outcome": "shown", "seconds": None}


@pytest.mark.parametrize(("mark", "seconds", "kept"), [
    ("accept_all", 4, 4), ("reject_all", 0, 0), ("custom", 3600, 3600), ("accept_all", 3601, 3600),
    ("custom", 86400, 3600),
])
def test_a_decision_stores_its_outcome_and_seconds_capped_at_an_hour(app, client, mark, seconds, kept):
    assert send(client, {"mark": mark, "language": "en", "seconds": seconds}).status_code == 204
    assert stored_marks(app) == [("shop", "en", mark, kept)]


def test_the_body_is_read_as_json_whatever_its_content_type(app, client):
    for headers in ({"Content-Type": "application/json"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}):
        assert send(client, {"mark": "shown", "language": "en"}, headers=headers).status_code == 204
    assert len(stored_marks(app)) == 3


def test_a_mark_sets_no_cookie_and_reads_none(app, client):
    client.set_cookie("consent_shop", "visitor-cookie", domain="localhost")
    response = send(client, {"mark": "reject_all", "language": "zh-CN", "seconds": 2})
    assert response.status_code == 204 and "Set-Cookie" not in response.headers
    assert stored_marks(app) == [("shop", "zh-CN", "reject_all", 2)]


# --- What is refused, storing nothing ------------------------------------------------------------------------

VALID = {"mark": "accept_all", "language": "en", "seconds": 5}
HOSTILE_BODIES = {
    "malformed JSON": '{"mark": "shown", "language": "en"',
    "empty body": "",
    "not JSON at all": "mark=shown&language=en",
    "invalid UTF-8": b'{"mark": "shown", "language": "\xff\xfe"}',
    "a list": [VALID],
    "a string": "shown",
    "null": None,
    "nested": "[" * 120 + "]" * 120,
    "mark of the wrong type": {**VALID, "mark": 1},
    "language of the wrong type": {**VALID, "language": ["en"]},
    "seconds as text": {**VALID, "seconds": "5"},
    "seconds with a fraction": {**VALID, "seconds": 5.5},
    "seconds written as a float": {**VALID, "seconds": 5.0},
    "seconds as a boolean": {**VALID, "seconds": True},
    "seconds null": {**VALID, "seconds": None},
    "seconds NaN": '{"mark": "custom", "language": "en", "seconds": NaN}',
    "unknown mark": {**VALID, "mark": "accept"},
    "mark in capitals": {**VALID, "mark": "ACCEPT_ALL"},
    "unknown language": {**VALID, "language": "fr"},
    "no language": {"mark": "shown"},
    "no mark": {"language": "en"},
    "seconds on shown": {"mark": "shown", "language": "en", "seconds": 3},
    "seconds null on shown": {"mark": "shown", "language": "en", "seconds": None},
    "a decision without seconds": {"mark": "custom", "language": "en"},
    "negative seconds": {**VALID, "seconds": -1},
    "more than a day": {**VALID, "seconds": 86401},
    "huge seconds": {**VALID, "seconds": 10**100},
    "an identifier added": {**VALID, "visitor_id": "a1b2c3d4e5f6"},
    "a client time added": {**VALID, "at": "2026-03-01T08:30:00Z"},
    "a lone surrogate as the mark": '{"mark": "\\ud800", "language": "en"}',
    "a lone surrogate as the language": '{"mark": "shown", "language": "en\\udfff"}',
    "a lone surrogate as a key": '{"mark": "shown", "language": "en", "\\ud83d": 1}',
    "NUL in the mark": {**VALID, "mark": "accept_all\x00"},
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_bodies_are_refused_with_a_422_problem(app, client, body):
    response = send(client, body)
    assert_refused(response, 422, app)
    assert response.get_json()["type"].endswith("/problems/invalid-request")


def test_schema_refusals_name_the_field(app, client):
    assert send(client, {"mark": "shown", "language": "en", "seconds": 3}).get_json()["errors"] == {
        "seconds": ['Only a decision says how long it took; leave seconds out of "shown".']}
    assert "visitor_id" in send(client, {**VALID, "visitor_id": "x"}).get_json()["errors"]


def test_an_oversized_body_is_refused_with_413(app, client):
    assert_refused(send(client, {**VALID, "language": "en" + " " * 300}), 413, app)
    padded = json.dumps(VALID) + " " * 300  # valid JSON, too long all the same
    assert_refused(send(client, padded), 413, app)


@pytest.mark.parametrize(("origin", "why"), [
    (None, "no Origin"),
    (OTHER_ORIGIN, "another site's origin"),
    ("https://evil.example", "an origin no site allows"),
    ("https://shop.example.evil.example", "a look-alike"),
    ("null", "an opaque origin"),
    ("https://shop.example\x00", "NUL in the origin"),
])
def test_an_origin_the_site_does_not_allow_is_refused_with_403(app, client, origin, why):
    import_site(app, load_site_config(id="other", allowed_origins=[OTHER_ORIGIN]))
    response = send(client, VALID, origin=origin)
    assert_refused(response, 403, app)
    assert response.get_json()["type"].endswith("/problems/origin-not-allowed"), why


@pytest.mark.parametrize("site", ["nope", "Shop", "sh%00op", "x" * 65, "%F0%9F%98%80"])
def test_an_unknown_site_is_refused_with_404(app, client, site):
    assert_refused(send(client, VALID, url=f"/api/v1/sites/{site}/funnel"), 404, app)


def test_a_site_with_banner_statistics_off_refuses_marks_and_its_widget_is_told_to_send_none(app, client):
    assert client.get("/api/v1/sites/shop/config?view=banner").get_json()["funnel"] is True
    assert '"funnel":true' in client.get("/api/v1/sites/shop/consent.js?lang=en").get_data(as_text=True)
    import_site(app, load_site_config(banner_statistics=False))
    response = send(client, {"mark": "shown", "language": "en"})
    assert_refused(response, 403, app)
    assert response.get_json()["type"].endswith("/problems/statistics-off")
    assert response.get_json()["action"] == "drop"
    for view in ("banner", "full"):
        assert "funnel" not in client.get(f"/api/v1/sites/shop/config?view={view}").get_json()
    assert '"funnel":' not in client.get("/api/v1/sites/shop/consent.js?lang=en").get_data(as_text=True)


def test_only_post_is_answered(app, client):
    assert client.get(URL, headers={"Origin": SHOP_ORIGIN}).status_code == 405
    assert stored_marks(app) == []


# --- Logs and rate limits ------------------------------------------------------------------------------------


def test_the_request_log_line_of_a_mark_carries_no_client(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    client.environ_base["REMOTE_ADDR"] = ADDRESS
    send(client, {"mark": "shown", "language": "en"})
    send(client, {"mark": "shown", "language": "fr"})  # refused, still not logged with its client
    client.get("/api/v1/sites/shop/config")  # any other route keeps its client hash
    lines = [record.getMessage() for record in caplog.records if record.name == "consent.requests"]
    with app.app_context():
        hashed = client_hash(ADDRESS)
    assert re.fullmatch(r"POST /api/v1/sites/<site_id>/funnel 204 [0-9.]+ms client=-", lines[0]), lines
    assert re.fullmatch(r"POST /api/v1/sites/<site_id>/funnel 422 [0-9.]+ms client=-", lines[1]), lines
    assert lines[2].endswith(f"client={hashed}")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged.count(hashed) == 1 and ADDRESS not in logged


def test_the_development_servers_line_of_a_mark_carries_no_client(app, caplog):
    caplog.set_level(logging.DEBUG)
    with BackgroundServer(app) as server:
        request = urllib.request.Request(server.url + URL, data=json.dumps(VALID).encode(), method="POST",
                                         headers={**BEACON, "Origin": SHOP_ORIGIN})
        assert urllib.request.urlopen(request).status == 204
    [line] = [record.getMessage() for record in caplog.records if record.name == "werkzeug" and "funnel" in
              record.getMessage()]
    assert line.startswith("client=- - - [") and '"POST /api/v1/sites/<site_id>/funnel HTTP/1.1" 204' in line
    with app.app_context():
        assert client_hash("127.0.0.1") not in line and "127.0.0.1" not in line


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_one_address_is_limited_without_its_hash_in_any_log(app_with, caplog):
    caplog.set_level(logging.DEBUG)
    app = app_with(CONSENT_RATELIMIT_MARKS_CLIENT="2 per minute")
    statuses = [send(client_from(app, ADDRESS), VALID).status_code for _ in range(3)]
    assert statuses == [204, 204, 429]
    assert send(client_from(app, "198.51.100.24"), VALID).status_code == 204
    # The address's decisions have an allowance of their own.
    assert client_from(app, ADDRESS).post("/api/v1/consents", json={}, headers={"Origin": SHOP_ORIGIN}).status_code \
        == 422
    assert len(stored_marks(app)) == 3
    with app.app_context():
        hashed = client_hash(ADDRESS)
    assert [record for record in caplog.records if record.name == "consent.limits"]  # the breach was logged ...
    funnel_lines = [record.getMessage() for record in caplog.records if "funnel" in record.getMessage()]
    assert funnel_lines and not any(hashed in line or ADDRESS in line for line in funnel_lines)  # ... without it


def test_a_sites_cap_takes_only_stored_marks(app_with):
    app = app_with(CONSENT_RATELIMIT_MARKS_SITE="2 per minute")
    import_site(app, load_site_config(id="other"))
    refused = [send(client_from(app, f"198.51.100.{n}"), VALID, origin="https://evil.example").status_code
               for n in range(1, 4)]
    stored = [send(client_from(app, f"198.51.100.{n}"), VALID).status_code for n in range(4, 7)]
    other = send(client_from(app, "198.51.100.7"), VALID, url="/api/v1/sites/other/funnel")
    assert refused == [403, 403, 403] and stored == [204, 204, 429] and other.status_code == 204
    assert [mark[0] for mark in stored_marks(app)] == ["shop", "shop", "other"]


# --- The site setting ----------------------------------------------------------------------------------------


def test_banner_statistics_is_on_by_default_exported_only_when_off_and_survives_a_round_trip(app):
    with app.app_context():
        assert "banner_statistics" not in configs.export_site(db.get_session(), "shop")
    import_site(app, load_site_config(banner_statistics=False))
    with app.app_context():
        exported = configs.export_site(db.get_session(), "shop")
    assert exported["banner_statistics"] is False
    import_site(app, configs.validate_config(configs.parse_yaml(configs.dump_yaml(exported))))
    with app.app_context():
        assert configs.export_site(db.get_session(), "shop") == exported
    import_site(app, {**exported, "banner_statistics": True})
    with app.app_context():
        assert "banner_statistics" not in configs.export_site(db.get_session(), "shop")


@pytest.mark.parametrize("value", ["no", 0, None, "false"])
def test_banner_statistics_is_true_or_false(value):
    with pytest.raises(Exception) as refusal:
        configs.validate_config(load_site_config(banner_statistics=value))
    assert "banner_statistics" in refusal.value.errors


SETTINGS = {"name_zh": "示例商城", "name_en": "Example Shop", "controller_zh": "示例商城有限公司",
            "controller_en": "Example Shop Ltd.", "contact": "privacy@shop.example", "default_language": "en",
            "allowed_origins": "https://shop.example"}


def test_the_console_settings_form_saves_banner_statistics(app, client, operator):
    checkbox = r'<input checked[^>]*name="banner_statistics"'
    assert re.search(checkbox, client.get("/admin/sites/shop").get_data(as_text=True))
    assert operator.submit("/admin/sites/shop", SETTINGS).status_code == 303  # unticked
    assert "funnel" not in client.get("/api/v1/sites/shop/config").get_json()
    assert not re.search(checkbox, client.get("/admin/sites/shop").get_data(as_text=True))
    with app.app_context():
        assert configs.export_site(db.get_session(), "shop")["banner_statistics"] is False
    assert operator.submit("/admin/sites/shop", {**SETTINGS, "banner_statistics": "y"}).status_code == 303
    assert client.get("/api/v1/sites/shop/config").get_json()["funnel"] is True


def test_a_new_site_from_the_console_counts_unless_unticked(app, client, operator):
    assert re.search(r'<input checked[^>]*name="site-banner_statistics"', client.get("/admin/sites/new").get_data(
        as_text=True))
    fields = new_site_fields()
    assert operator.submit("/admin/sites/new", {**fields, "site-banner_statistics": "y"}).status_code == 303
    assert client.get("/api/v1/sites/bakery/config").get_json()["funnel"] is True
