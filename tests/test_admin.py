"""Admin console: sign-in, creating and editing sites, publishing versions, API keys, preview."""
import re

import pytest
from sqlalchemy import select

from consent.accounts import operators
from consent.sites import configs
from consent.storage import db
from consent.storage.models import PolicyVersion, Site
from consent.storage.operations import ApiKey, SiteWebhook
from tests.conftest import PASSWORD, STORAGE_AGNOSTIC, OperatorActions, bearer, csrf_token, form_fields, import_site
from tests.test_cookie_declarations import declaring
from tests.test_webhook_targets import HOSTILE_URLS

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py


def new_site_fields(site_id="bakery", origin="https://bakery.example", **changes):
    fields = {
        "site-site_id": site_id, "site-name_zh": "面包店", "site-name_en": "Bakery",
        "site-controller_zh": "面包店有限公司", "site-controller_en": "Bakery Ltd.",
        "site-contact": "privacy@bakery.example",
        "site-default_language": "zh-CN", "site-allowed_origins": origin,
        "policy-version": "2026-01", "policy-url": "https://bakery.example/privacy",
        "policy-text_zh": "面包店隐私政策。", "policy-text_en": "Bakery privacy policy.",
        "policy-title_zh": "面包店的隐私选择", "policy-title_en": "Bakery privacy choices",
        "policy-intro_zh": "我们只在您同意后发送短信。", "policy-intro_en": "We text you only if you agree.",
        "policy-purposes-0-id": "necessary", "policy-purposes-0-tags": "cookie",
        "policy-purposes-0-legal_basis": "contract",
        "policy-purposes-0-title_zh": "必要功能", "policy-purposes-0-title_en": "Necessary",
        "policy-purposes-0-description_zh": "运行网站。", "policy-purposes-0-description_en": "Runs the site.",
        "policy-purposes-1-id": "marketing_sms", "policy-purposes-1-tags": "marketing",
        "policy-purposes-1-title_zh": "营销短信", "policy-purposes-1-title_en": "Marketing SMS",
        "policy-purposes-1-description_zh": "新品短信。", "policy-purposes-1-description_en": "Texts about new bread.",
        "policy-purposes-2-id": "overseas_support", "policy-purposes-2-tags": "other",
        "policy-purposes-2-sensitive": "y",
        "policy-purposes-2-title_zh": "境外客服", "policy-purposes-2-title_en": "Support abroad",
        "policy-purposes-2-description_zh": "境外处理工单。",
        "policy-purposes-2-description_en": "Tickets handled abroad.",
        "policy-purposes-2-recipients": "支持公司 | Support Pte. | help@support.example | "
                                        "处理工单 | Handling tickets | SG",
    }
    fields.update(changes)
    return fields


def test_console_needs_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.get("/admin/sites/shop").status_code == 302


@pytest.mark.parametrize(
    ("username", "password"),
    [("operator", "wrong password!"), ("nobody", PASSWORD), ("", ""), ("operator", "x" * 300),
     ("oper\x00ator", PASSWORD)],
)
def test_wrong_credentials_are_refused(app, client, username, password):
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "operator", PASSWORD)
    response = OperatorActions(client).login(username, password)
    assert response.status_code in (200, 401)
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(app, client):
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "operator", PASSWORD)
    client.post("/admin/login", data={"username": "operator", "password": PASSWORD})
    assert client.get("/admin/").status_code == 302


def test_login_never_redirects_off_the_console(operator, client):
    client.post("/admin/logout", data={"csrf_token": csrf_token(client.get("/admin/").get_data(as_text=True))})
    page = client.get("/admin/login?next=https://evil.example/").get_data(as_text=True)
    response = client.post("/admin/login?next=https://evil.example/",
                           data={"csrf_token": csrf_token(page), "username": "operator", "password": PASSWORD})
    assert response.headers["Location"] == "/admin/"


def test_operator_creates_a_site(app, client, operator):
    response = operator.submit("/admin/sites/new", new_site_fields())
    assert response.status_code == 303, response.get_data(as_text=True)
    config = client.get("/api/v1/sites/bakery/config?lang=en").get_json()
    assert config["texts"]["title"] == "Bakery privacy choices"
    assert [p["id"] for p in config["purposes"]] == ["necessary", "marketing_sms", "overseas_support"]
    support = config["purposes"][2]
    assert support["sensitive"] is True
    assert support["recipients"] == [{"name": "Support Pte.", "contact": "help@support.example",
                                      "purpose": "Handling tickets", "country": "SG"}]
    page = client.get("/admin/sites/bakery").get_data(as_text=True)
    assert 'data-site="bakery"' in page and "2026-01" in page


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"site-site_id": "Bad Id!"}, "id"),
        ({"site-site_id": "bad\x00id"}, "id"),
        ({"policy-version": "v\x001"}, "control characters"),
        ({"site-site_id": "shop"}, "already exists"),
        ({"site-allowed_origins": "https://bakery.example/path"}, "allowed_origins"),
        ({"site-contact": "not-an-email"}, "contact"),
        ({"policy-purposes-0-legal_basis": "consent"}, "required"),
        ({"policy-purposes-1-id": "necessary"}, "unique"),
        ({"policy-purposes-2-recipients": "only | three | parts"}, "recipients"),
        ({"policy-text_en": ""}, "This field is required"),
        ({"site-name_en": "x" * 201}, "200"),
    ],
)
def test_bad_new_site_is_refused_with_reasons(app, operator, changes, problem):
    response = operator.submit("/admin/sites/new", new_site_fields(**changes))
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)
    with app.app_context():
        assert db.get_session().get(Site, "bakery") is None


def test_new_site_without_csrf_is_refused(app, client, operator):
    response = client.post("/admin/sites/new", data=new_site_fields())
    assert response.status_code == 422
    with app.app_context():
        assert db.get_session().get(Site, "bakery") is None


def test_settings_save_keeps_policy_and_sets_webhook(app, client, operator):
    fields = {"name_zh": "示例商城", "name_en": "Example Shop (renamed)", "controller_zh": "示例商城有限公司",
              "controller_en": "Example Shop Ltd.", "contact": "privacy@shop.example", "default_language": "en",
              "allowed_origins": "https://shop.example\nhttps://m.shop.example", "age_gate": "y",
              "webhook_url": "https://shop.example/hooks"}
    response = operator.submit("/admin/sites/shop", fields)
    assert response.status_code == 303
    config = client.get("/api/v1/sites/shop/config").get_json()
    assert (config["name"], config["age_gate"], config["policy"]["version"]) == ("Example Shop (renamed)", True, "v1")
    with app.app_context():
        session = db.get_session()
        assert session.get(Site, "shop").allowed_origins == ["https://shop.example", "https://m.shop.example"]
        assert session.get(SiteWebhook, "shop").url == "https://shop.example/hooks"
        assert session.scalars(select(PolicyVersion)).all()[0].version == "v1"


def publish_fields(client, **changes):
    """The publish form as the console prefills it (the current version's purposes, then blank rows), changed."""
    form = client.get("/admin/sites/shop/publish").get_data(as_text=True)
    assert "Example Shop privacy policy, version 1." in form  # prefilled from the current version
    return {**form_fields(form), **changes}


def test_publishing_archives_the_old_version(app, client, operator):
    fields = publish_fields(client, version="v2", text_en="Version 2.")
    response = operator.submit("/admin/sites/shop/publish", fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert client.get("/api/v1/sites/shop/config").get_json()["policy"]["version"] == "v2"
    assert "version 1" in client.get("/policies/shop/v1?lang=en").get_data(as_text=True)
    again = operator.submit("/admin/sites/shop/publish", fields)
    assert again.status_code == 422 and "already published" in again.get_data(as_text=True)


def test_api_key_is_shown_once_works_and_can_be_revoked(app, client, operator):
    response = operator.submit("/admin/sites/shop/keys", {"label": "crm"}, form_path="/admin/sites/shop")
    assert response.status_code == 201
    token = re.search(r'<code id="new-api-key">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/sites/shop/subjects/a/consents", headers=bearer(token)).status_code == 200
    assert token not in client.get("/admin/sites/shop").get_data(as_text=True)
    with app.app_context():
        prefix = db.get_session().scalars(select(ApiKey.prefix)).one()
    operator.submit(f"/admin/sites/shop/keys/{prefix}/revoke", {}, form_path="/admin/sites/shop")
    assert client.get("/api/v1/sites/shop/subjects/a/consents", headers=bearer(token)).status_code == 401


def test_revoking_an_unknown_key_is_not_found(client, operator):
    for prefix in ("csk_00000000", "csk_%00", "nonsense"):
        response = operator.submit(f"/admin/sites/shop/keys/{prefix}/revoke", {}, form_path="/admin/sites/shop")
        assert response.status_code == 404


@pytest.mark.parametrize("path", ["/admin/sites/shop/keys", "/admin/sites/shop/keys/csk_x/revoke",
                                  "/admin/sites/shop/webhook/secret"])
def test_admin_actions_without_csrf_change_nothing(app, client, operator, path):
    assert client.post(path, data={"label": "x"}).status_code in (400, 422)
    with app.app_context():
        assert db.get_session().scalars(select(ApiKey)).all() == []


def test_preview_shows_both_languages_and_unknown_site_is_404(client, operator):
    page = client.get("/admin/sites/shop/preview").get_data(as_text=True)
    assert "/admin/sites/shop/preview/zh-CN" in page and "/admin/sites/shop/preview/en" in page
    frame = client.get("/admin/sites/shop/preview/en").get_data(as_text=True)
    assert 'data-site="shop"' in frame and '<html lang="en">' in frame
    assert client.get("/admin/sites/nope").status_code == 404
    assert client.get("/admin/sites/shop/preview/fr").status_code == 404


SETTINGS = {"name_zh": "示例商城", "name_en": "Example Shop", "controller_zh": "示例商城有限公司",
            "controller_en": "Example Shop Ltd.", "contact": "privacy@shop.example", "default_language": "zh-CN",
            "allowed_origins": "https://shop.example"}


@pytest.mark.parametrize(
    "changes",
    [{"webhook_url": "ftp://shop.example/hook"}, {"webhook_url": "not a url"}, {"allowed_origins": ""},
     {"allowed_origins": "javascript:alert(1)"}, {"default_language": "fr"}, {"name_en": ""},
     {"allowed_origins": "\n".join(f"https://o{i}.example" for i in range(51))}],
)
def test_bad_settings_change_nothing(app, client, operator, changes):
    response = operator.submit("/admin/sites/shop", {**SETTINGS, **changes})
    assert response.status_code == 422
    with app.app_context():
        session = db.get_session()
        assert session.get(Site, "shop").allowed_origins == ["https://shop.example"]
        assert session.get(SiteWebhook, "shop") is None


@pytest.mark.parametrize(("url", "reason"), HOSTILE_URLS)
def test_webhook_into_our_network_is_refused_with_a_reason(app, operator, url, reason):
    response = operator.submit("/admin/sites/shop", {**SETTINGS, "webhook_url": url})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<span class="error">[^<]*' + re.escape(reason), page)
    with app.app_context():
        assert db.get_session().get(SiteWebhook, "shop") is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://10.0.0.1/", "webhook 地址必须以 https:// 开头"), ("https://localhost/", "总是指向本机"),
     ("https://169.254.169.254/latest/meta-data", "链路本地地址"), ("https://a@127.0.0.1/", "不得包含用户名或密码")],
)
def test_webhook_refusal_is_explained_in_chinese(app, operator, url, reason):
    response = operator.submit("/admin/sites/shop?lang=zh-CN", {**SETTINGS, "webhook_url": url})
    assert response.status_code == 422 and reason in response.get_data(as_text=True)


def test_console_speaks_chinese_and_keeps_the_language(client, operator):
    page = client.get("/admin/?lang=zh-CN").get_data(as_text=True)
    assert "创建网站" in page and "/admin/sites/shop?lang=zh-CN" in page


@pytest.mark.parametrize("path", ["/admin/logout", "/admin/sites/shop/webhook/secret"])
def test_posts_without_csrf_token_are_refused_as_in_the_auditor_console(operator, client, path):
    """Both consoles answer a console POST without its CSRF token the same way: 400, a page saying why,
    and nothing done (a forged sign-out signs nobody out)."""
    response = client.post(path, data={})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "This form has expired or was not sent from this console" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200


DECLARED = {"cookies": ["_pk_id", {"pattern": "Hm_lvt_*", "lifetime": {"zh-CN": "1 年", "en": "1 year"}}],
            "storage": [{"key": "stats_queue", "area": "local"}]}


def analytics_of(app):
    with app.app_context():
        exported = configs.export_site(db.get_session(), "shop")
    return next(purpose for purpose in exported["purposes"] if purpose["id"] == "analytics")


def test_publishing_in_the_console_keeps_each_purposes_cookies_and_storage(app, client, operator):
    """The form does not edit declarations (YAML does); a version published from it carries them over."""
    import_site(app, declaring(version="v1.1", analytics=DECLARED))
    response = operator.submit("/admin/sites/shop/publish", publish_fields(client, version="v2"))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert {key: analytics_of(app)[key] for key in DECLARED} == DECLARED
    assert client.get("/api/v1/sites/shop/config?lang=en").get_json()["policy"]["version"] == "v2"


def test_settings_save_sets_reload_on_withdrawal_and_keeps_declarations(app, client, operator):
    import_site(app, declaring(version="v1.1", analytics=DECLARED))
    fields = {"name_zh": "示例商城", "name_en": "Example Shop", "controller_zh": "示例商城有限公司",
              "controller_en": "Example Shop Ltd.", "contact": "privacy@shop.example", "default_language": "en",
              "allowed_origins": "https://shop.example"}
    assert operator.submit("/admin/sites/shop", {**fields, "reload_on_withdrawal": "y"}).status_code == 303
    assert client.get("/api/v1/sites/shop/config").get_json()["reload_on_withdrawal"] is True
    assert re.search(r'<input checked[^>]*name="reload_on_withdrawal"', client.get("/admin/sites/shop").get_data(
        as_text=True))
    assert operator.submit("/admin/sites/shop", fields).status_code == 303  # unticked
    assert "reload_on_withdrawal" not in client.get("/api/v1/sites/shop/config").get_json()
    assert {key: analytics_of(app)[key] for key in DECLARED} == DECLARED
