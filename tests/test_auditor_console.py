"""The auditor console: sign-in with CSRF, site scope, search, timeline, receipt detail, exports, both languages."""
import re

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from consent.accounts.passwords import token_hash
from consent.storage import db
from consent.storage.models import Auditor
from tests.audit_support import import_other_site, make_auditor
from tests.conftest import STORAGE_AGNOSTIC, csrf_token, set_site_lanes, visitor_credential

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py

EMAIL, PASSWORD = "dpo@example.org", "correct horse battery"


def form_token(client, path):
    return csrf_token(client.get(path).get_data(as_text=True))


def sign_in(client, email=EMAIL, password=PASSWORD, lang="en"):
    token = form_token(client, f"/audit/login?lang={lang}")
    return client.post(f"/audit/login?lang={lang}", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def auditor(app):
    import_other_site(app)
    make_auditor(app, ["shop"], email=EMAIL, password=PASSWORD)


@pytest.fixture
def signed_in(client, auditor):
    assert sign_in(client).status_code == 302
    return client


def test_console_needs_sign_in(client, auditor):
    response = client.get("/audit/?site=shop")
    assert response.status_code == 302 and response.location.startswith("/audit/login?next=")


def test_sign_in_and_out(client, auditor):
    response = sign_in(client, lang="zh-CN")
    assert response.status_code == 302 and response.location == "/audit/?lang=zh-CN"
    page = client.get("/audit/?lang=zh-CN").get_data(as_text=True)
    assert "审计控制台" in page and EMAIL in page
    token = form_token(client, "/audit/")
    assert client.post("/audit/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/audit/").status_code == 302


@pytest.mark.parametrize(
    ("email", "password"),
    [(EMAIL, "wrong password"), ("nobody@example.org", PASSWORD), (EMAIL.upper(), "wrong"), ("", ""), ("x" * 300, "y")],
)
def test_wrong_credentials_are_refused(client, auditor, email, password):
    response = sign_in(client, email=email, password=password)
    assert response.status_code in (200, 401) and "/audit/" != response.location
    assert client.get("/audit/").status_code == 302  # still signed out


def test_email_is_case_insensitive(client, auditor):
    assert sign_in(client, email=EMAIL.upper()).status_code == 302


@pytest.mark.parametrize(
    ("what", "path", "data"),
    [
        ("sign-in without token", "/audit/login", {"email": EMAIL, "password": PASSWORD}),
        ("sign-in with a forged token", "/audit/login", {"email": EMAIL, "password": PASSWORD, "csrf_token": "forged"}),
        ("sign-out without token", "/audit/logout", {}),
    ],
)
def test_posts_without_csrf_token_are_refused(signed_in, what, path, data):
    response = signed_in.post(path, data=data)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "This form has expired or was not sent from this console" in response.get_data(as_text=True)
    assert signed_in.get("/audit/").status_code == 200  # not signed out by a forged post


def test_sign_in_never_redirects_off_site(client, auditor):
    for target in ("https://evil.example/", "//evil.example/audit/", "/audit/?site=shop"):
        token = form_token(client, "/audit/login")  # signing in starts a fresh session, with a new token
        fields = {"email": EMAIL, "password": PASSWORD, "csrf_token": token}
        response = client.post(f"/audit/login?next={target}", data=fields)
        assert response.location in ("/audit/", "/audit/?site=shop")


def test_search_subject_timeline_and_receipt(signed_in, consent):
    first = consent.post(**consent.user("alice"), choices={"necessary": True, "analytics": True}).get_json()
    consent.post(**consent.user("bob"))
    consent.post(**consent.user("alice"))
    page = signed_in.get("/audit/?site=shop&subject=alice&lang=en").get_data(as_text=True)
    assert "History of this subject" in page and page.count("/audit/receipts/") == 2
    assert "withdrew:" in page and "analytics" in page
    assert 'href="/audit/sites/shop/export?format=jsonl&amp;subject=alice&amp;lang=en"' in page

    detail = signed_in.get(f"/audit/receipts/{first['receipt_id']}?lang=en").get_data(as_text=True)
    assert detail.count('<strong class="valid">valid</strong>') == 2
    assert '<strong class="valid">verified</strong>' in detail
    assert "示例商城隐私政策第一版。" in detail  # the policy text shown, in the language the visitor used
    expires = first["expires_at"][:19].replace("T", " ")
    assert f"Valid until {expires} (UTC)." in detail
    zh = signed_in.get(f"/audit/receipts/{first['receipt_id']}?lang=zh-CN").get_data(as_text=True)
    assert zh.count('<strong class="valid">有效</strong>') == 2 and "已验证" in zh
    assert f"有效期至 {expires}（UTC）。" in zh

    download = signed_in.get(f"/audit/receipts/{first['receipt_id']}/download")
    assert download.get_json()["jws"] == first["jws"] and "attachment" in download.headers["Content-Disposition"]


def test_a_log_of_several_lanes_names_each_events_lane(app, signed_in, consent):
    single = consent.post().get_json()
    single_page = signed_in.get(f"/audit/receipts/{single['receipt_id']}?lang=en").get_data(as_text=True)
    assert "event 1 of site shop" in single_page and "<th>Lane</th>" not in signed_in.get("/audit/?site=shop").text
    set_site_lanes(app, 4)
    for number in range(6):
        assert consent.post(visitor_secret=visitor_credential(number)).status_code == 201
    events = consent.stored_events()
    assert len({event.lane for event in events}) > 1

    page = signed_in.get("/audit/?site=shop&lang=en").get_data(as_text=True)
    assert "<th>Lane</th><th>#</th>" in page
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", page)
    assert [(int(lane), int(seq)) for lane, seq in rows] == sorted((event.lane, event.seq) for event in events)
    laned = next(event for event in events if event.lane)
    detail = signed_in.get(f"/audit/receipts/{laned.receipt.receipt_id}?lang=en").get_data(as_text=True)
    assert f"event {laned.seq} of lane {laned.lane} of site shop" in detail
    zh = signed_in.get(f"/audit/receipts/{laned.receipt.receipt_id}?lang=zh-CN").get_data(as_text=True)
    assert f"站点 shop 通道 {laned.lane} 的第 {laned.seq} 条事件" in zh


def test_console_export_button_streams_the_search(signed_in, consent):
    consent.post(**consent.user("alice"))
    consent.post(**consent.user("bob"))
    exported = signed_in.get("/audit/sites/shop/export?format=csv&subject=alice&lang=en")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert len(exported.get_data(as_text=True).strip().splitlines()) == 2  # header + alice's one event


def test_search_errors_are_shown_not_crashed(signed_in):
    page = signed_in.get("/audit/?site=shop&from=yesterday&lang=en")
    assert page.status_code == 200 and 'class="error"' in page.get_data(as_text=True)


def test_console_scope_is_the_auditors_sites(signed_in, consent):
    other = consent.post(body=consent.body(site_id="other"), origin="https://other.example").get_json()
    assert signed_in.get(f"/audit/receipts/{other['receipt_id']}").status_code == 403
    assert signed_in.get(f"/audit/receipts/{other['receipt_id']}/download").status_code == 403
    assert signed_in.get("/audit/sites/other/export?format=jsonl").status_code == 403
    page = signed_in.get("/audit/?site=other").get_data(as_text=True)
    assert "may not inspect site" in page and other["receipt_id"][:8] not in page


def test_auditor_cli_prints_secrets_once_and_stores_hashes(app):
    create = ["consent", "auditor", "create", "--site", "shop", "--email", "A@Example.org"]
    result = app.test_cli_runner().invoke(args=create)
    assert result.exit_code == 0, result.output
    api_token = re.search(r"API token .*: (\S+)", result.output).group(1)
    password = re.search(r"console password: (\S+)", result.output).group(1)
    with app.app_context():
        stored = db.get_session().scalars(select(Auditor)).one()
    assert stored.email == "a@example.org" and stored.site_ids == ["shop"]
    assert stored.token_hash == token_hash(api_token) and api_token not in stored.token_hash
    assert check_password_hash(stored.password_hash, password) and password not in stored.password_hash
    assert app.test_client().get("/api/v1/audit/sites/shop/events",
                                 headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
    listing = app.test_cli_runner().invoke(args=["consent", "auditor", "list"]).output
    assert listing == "a@example.org\tshop\n"


@pytest.mark.parametrize(
    ("what", "args", "message"),
    [
        ("unknown site", ["--site", "nope", "--email", "a@example.org"], "No site 'nope'"),
        ("bad site id", ["--site", "../x", "--email", "a@example.org"], "sites"),
        ("bad email", ["--site", "shop", "--email", "not-an-email"], "email"),
        ("short password", ["--site", "shop", "--email", "a@example.org", "--password", "short"], "password"),
        ("duplicate", ["--site", "shop", "--email", "dpo@example.org"], "exists already"),
        ("no site", ["--email", "a@example.org"], "--site"),
    ],
)
def test_auditor_cli_refuses_bad_input(app, auditor, what, args, message):
    result = app.test_cli_runner().invoke(args=["consent", "auditor", "create", *args])
    assert result.exit_code != 0 and message in result.output
    with app.app_context():
        assert [a.email for a in db.get_session().scalars(select(Auditor))] == [EMAIL]
