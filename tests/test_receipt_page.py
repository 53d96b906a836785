"""The visitor's receipt page: readable, localized, opened only with the receipt's own token."""
import pytest
from sqlalchemy import text

from consent.ledger import receipts
from consent.storage import db
from tests.audit_support import drop_append_only_triggers
from tests.conftest import STORAGE_AGNOSTIC, import_site, load_site_config

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py


@pytest.fixture
def recorded(consent):
    response = consent.post(
        choices={"necessary": True, "analytics": True, "cross_border_transfer": True},
        separate_consents=["cross_border_transfer"],
        signals={"dnt": False, "gpc": True},
    )
    assert response.status_code == 201
    return response.get_json()


def page_of(client, recorded, lang, token=None):
    return client.get(
        f"/receipts/{recorded['receipt_id']}", query_string={"token": token or recorded["receipt_token"], "lang": lang}
    )


def test_receipt_page_in_english_names_each_decision(client, recorded):
    response = page_of(client, recorded, "en")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html and recorded["receipt_id"] in html
    # Titles in the page's language, although the decision was taken in Chinese.
    assert "<th scope=\"row\">Analytics</th>" in html and "<th scope=\"row\">Transfer abroad</th>" in html
    assert "Granted (separate consent)" in html and "Refused" in html
    assert "Global Privacy Control: on" in html and "Do Not Track: off" in html
    assert "signature on this receipt verifies." in html and "does not verify" not in html
    assert "/policies/shop/v1" in html and f"/api/v1/receipts/{recorded['receipt_id']}?token=" in html


def test_receipt_page_in_chinese(client, recorded):
    html = page_of(client, recorded, "zh-CN").get_data(as_text=True)
    assert "同意凭证" in html and "访问统计" in html
    assert "已同意 (单独同意)" in html and "已拒绝" in html and "示例商城有限公司" in html


def test_site_texts_are_shown_as_text_never_as_html(app, client, consent):
    config = load_site_config()
    config["policy"] = {**config["policy"], "version": "v2"}
    config["purposes"][1]["title"] = {"zh-CN": "<img src=x onerror=alert(1)>", "en": "<script>alert(1)</script>"}
    import_site(app, config)
    recorded = consent.post(policy_version="v2").get_json()
    html = page_of(client, recorded, "en").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 403),
        ("garbage token", 403),
        ("token of another receipt", 403),
        ("flipped token", 403),
        ("unknown receipt with its own token", 404),
    ],
)
def test_receipt_page_refuses_readably(app, client, consent, recorded, case, status):
    receipt_id, token = recorded["receipt_id"], recorded["receipt_token"]
    if case == "no token":
        token = ""
    elif case == "garbage token":
        token = "garbage"
    elif case == "token of another receipt":
        token = consent.post().get_json()["receipt_token"]
    elif case == "flipped token":
        payload, signature = token.rsplit(".", 1)
        token = f"{payload}.{signature[:5]}{'A' if signature[5] != 'A' else 'B'}{signature[6:]}"
    else:
        receipt_id = "00000000-0000-0000-0000-000000000000"
        with app.test_request_context():
            token = receipts.access_token(receipt_id)
    response = client.get(f"/receipts/{receipt_id}", query_string={"token": token, "lang": "zh-CN"})
    assert response.status_code == status and response.mimetype == "text/html"
    assert "出错了" in response.get_data(as_text=True)


def test_a_receipt_altered_in_storage_says_so(app, client, recorded):
    # Simulates someone editing the database behind the service's back (the append-only triggers first).
    drop_append_only_triggers(app)
    with app.app_context(), db.write_transaction() as session:
        session.execute(
            text("UPDATE receipts SET document = REPLACE(document, :given, :refused)"),
            {"given": '"consentGiven":true', "refused": '"consentGiven":false'},
        )
    html = page_of(client, recorded, "en").get_data(as_text=True)
    assert "The signature on this receipt does not verify." in html
