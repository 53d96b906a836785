"""The visitor's "my data" page: their history, proven by a receipt token, and withdrawing everything."""
import json

import pytest

from consent import db
from consent.chain import verify_chain
from tests.conftest import bearer, csrf_token


def my_data_url(result, lang="en"):
    return f"/me/shop?receipt={result['receipt_id']}&token={result['receipt_token']}&lang={lang}"


@pytest.fixture
def decided(consent):
    """One visitor's two decisions (same visitor id), and a stranger's."""
    consent.post(visitor_id="visitor-one", choices={"necessary": True, "analytics": True})
    latest = consent.post(visitor_id="visitor-one", choices={"necessary": True, "marketing_sms": True}).get_json()
    consent.post(visitor_id="stranger-1", choices={"necessary": True, "advertising": True})
    return latest


def test_history_shows_the_visitors_decisions_only(client, decided):
    response = client.get(my_data_url(decided))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("<tr>") == 3  # header + two decisions
    assert "Marketing SMS" in html and "Analytics" in html and "Advertising" not in html
    assert decided["receipt_id"][:8] in html
    assert "我的数据" in client.get(my_data_url(decided, lang="zh-CN")).get_data(as_text=True)


def test_withdraw_everything_records_a_refusal_for_the_visitor(app, client, consent, decided):
    page = client.get(my_data_url(decided)).get_data(as_text=True)
    response = client.post(my_data_url(decided), data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    followed = client.get(response.headers["Location"])
    assert followed.status_code == 200 and followed.get_data(as_text=True).count("<tr>") == 4

    last = consent.stored_events()[-1]
    document = json.loads(last.document)
    assert document["visitor_id"] == "visitor-one" and document["collection_method"] == "preference_centre"
    assert document["choices"] == {"necessary": True, "analytics": False, "advertising": False, "marketing_sms": False,
                                   "personalized_recommendation": False, "cross_border_transfer": False}
    assert document["action"] == "reject_all"
    with app.app_context():
        assert verify_chain(db.get_session(), "shop").intact


def test_withdrawal_reaches_the_subject(app, client, consent, shop_key):
    result = consent.post(subject_id="alice", choices={"necessary": True, "marketing_sms": True}).get_json()
    page = client.get(my_data_url(result)).get_data(as_text=True)
    client.post(my_data_url(result), data={"csrf_token": csrf_token(page)})
    state = client.get("/api/v1/sites/shop/subjects/alice/consents", headers=bearer(shop_key)).get_json()
    assert state["purposes"]["marketing_sms"]["granted"] is False
    assert state["purposes"]["marketing_sms"]["receipt_id"] == consent.stored_events()[-1].receipt.receipt_id


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/me/shop?receipt={receipt_id}&token=forged-token", 403),
        ("/me/shop?receipt={receipt_id}", 403),
        ("/me/shop?token={receipt_token}", 403),
        ("/me/other?receipt={receipt_id}&token={receipt_token}", 404),
    ],
)
def test_my_data_needs_the_receipt_and_its_token(client, consent, decided, url, status):
    for method in (client.get, client.post):
        response = method(url.format(**decided), headers={"Accept": "text/html"})
        assert response.status_code == status and "<html" in response.get_data(as_text=True)
    assert len(consent.stored_events()) == 3


def test_withdrawal_without_csrf_token_records_nothing(client, consent, decided):
    response = client.post(my_data_url(decided), data={})
    assert response.status_code == 400
    response = client.post(my_data_url(decided), data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert len(consent.stored_events()) == 3
