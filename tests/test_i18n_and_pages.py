"""Catalogs as the single source of UI strings, and the pages people see."""
from pathlib import Path

from babel.messages.pofile import read_po

from consent.i18n import WIDGET_STRINGS, widget_strings

CATALOG = Path(__file__).parent.parent / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def test_every_message_is_translated():
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    untranslated = [message.id for message in catalog if message.id and not message.string]
    fuzzy = [message.id for message in catalog if message.id and message.fuzzy]
    assert untranslated == [] and fuzzy == []


def test_widget_strings_come_from_the_catalogs(app):
    with app.test_request_context():
        zh, en = widget_strings("zh-CN"), widget_strings("en")
    assert set(zh) == set(en) == set(WIDGET_STRINGS)
    assert en["accept_all"] == "Accept all" and zh["accept_all"] == "全部接受"
    assert all(zh[key] != en[key] for key in zh), "a widget string is missing from the zh-CN catalog"


def test_demo_page_embeds_the_tag(client):
    page = client.get("/?lang=en").get_data(as_text=True)
    assert 'data-site="demo"' in page and "/static/consent.js" in page and '<html lang="en">' in page


def test_error_page_is_readable_html_in_the_visitors_language(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "出错了" in response.get_data(as_text=True)


def test_policy_archive_serves_each_version_as_text(app, client):
    from tests.conftest import import_site, load_site_config

    config = load_site_config()
    config["policy"] = {**config["policy"], "version": "v2", "text": {"zh-CN": "第二版 <b>粗体</b>", "en": "Version 2"},
                        "changes": {"zh-CN": "新增境外提供。", "en": "Added transfer abroad."}}
    import_site(app, config)
    old = client.get("/policies/shop/v1?lang=en").get_data(as_text=True)
    new = client.get("/policies/shop/v2?lang=zh-CN").get_data(as_text=True)
    assert "Example Shop privacy policy, version 1." in old
    assert "第二版 &lt;b&gt;粗体&lt;/b&gt;" in new and "新增境外提供。" in new
    assert client.get("/policies/shop/v3").status_code == 404


def test_receipt_links_the_exact_policy_version(consent):
    receipt = consent.post().get_json()["receipt"]
    assert receipt["policyArchiveUrl"] == "http://localhost/policies/shop/v1"
