"""The visitor's "my data" page: their history, opened with a history link only their proof gets, and
withdrawing everything."""
import json
import re

import pytest

from consent.ledger import lanes
from consent.ledger.chain import verify_chain
from consent.storage import db
from tests.conftest import SHOP_ORIGIN, bearer, credentials_in_lane, csrf_token, set_site_lanes

VISITOR = "visitor-one-credential-0123456789"
STRANGER = "stranger-credential-0123456789abc"


def history_link(client, origin=SHOP_ORIGIN, **proof):
    return client.post("/api/v1/sites/shop/history-link", json=proof, headers={"Origin": origin})


def my_data_url(client, lang="en", **proof):
    answer = history_link(client, **proof)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["history_url"].removeprefix("http://localhost") + f"&lang={lang}"


@pytest.fixture
def decided(consent):
    """One visitor's two decisions (same credential), and a stranger's."""
    consent.post(visitor_secret=VISITOR, choices={"necessary": True, "analytics": True})
    latest = consent.post(visitor_secret=VISITOR, choices={"necessary": True, "marketing_sms": True}).get_json()
    consent.post(visitor_secret=STRANGER, choices={"necessary": True, "advertising": True})
    return latest


def test_history_shows_the_visitors_decisions_only(client, decided):
    url = my_data_url(client, visitor_secret=VISITOR)
    response = client.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("<tr>") == 3  # header + two decisions
    assert "Marketing SMS" in html and "Analytics" in html and "Advertising" not in html
    assert decided["receipt_id"][:8] in html
    assert "我的数据" in client.get(my_data_url(client, lang="zh-CN", visitor_secret=VISITOR)).get_data(as_text=True)


def test_withdraw_everything_records_a_refusal_for_the_visitor(app, client, consent, decided):
    url = my_data_url(client, visitor_secret=VISITOR)
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    followed = client.get(response.headers["Location"])
    assert followed.status_code == 200 and followed.get_data(as_text=True).count("<tr>") == 4

    last = consent.stored_events()[-1]
    document = json.loads(last.document)
    assert last.visitor_id == consent.stored_events()[0].visitor_id  # the same visitor's history
    assert document["collection_method"] == "preference_centre" and document["identified_by"] == "history_link"
    assert document["choices"] == {"necessary": True, "analytics": False, "advertising": False, "marketing_sms": False,
                                   "personalized_recommendation": False, "cross_border_transfer": False}
    assert document["action"] == "reject_all"
    with app.app_context():
        assert verify_chain(db.get_session(), "shop").intact


def test_withdrawal_reaches_the_subject(client, consent, shop_key):
    user = consent.user("alice")
    consent.post(**user, choices={"necessary": True, "marketing_sms": True})
    url = my_data_url(client, **user)
    page = client.get(url).get_data(as_text=True)
    assert page.count("<tr>") == 2
    client.post(url, data={"csrf_token": csrf_token(page)})
    state = client.get("/api/v1/sites/shop/subjects/alice/consents", headers=bearer(shop_key)).get_json()
    assert state["verified"] is True and state["purposes"]["marketing_sms"]["granted"] is False
    assert state["purposes"]["marketing_sms"]["receipt_id"] == consent.stored_events()[-1].receipt.receipt_id


@pytest.mark.parametrize(
    ("url", "status"),
    [
        # The links that used to open a history: a receipt and its token open that receipt only.
        ("/me/shop?receipt={receipt_id}&token={receipt_token}", 403),
        ("/me/shop?access=forged-link", 403),
        ("/me/shop", 403),
        ("/me/other?access={access}", 403),  # a link for another site
    ],
)
def test_my_data_needs_a_history_link(client, consent, decided, url, status):
    access = my_data_url(client, visitor_secret=VISITOR).split("access=")[1].split("&")[0]
    for method in (client.get, client.post):
        response = method(url.format(**decided, access=access), headers={"Accept": "text/html"})
        assert response.status_code == status and "<html" in response.get_data(as_text=True)
    assert len(consent.stored_events()) == 3


def test_withdrawal_without_csrf_token_records_nothing(client, consent, decided):
    url = my_data_url(client, visitor_secret=VISITOR)
    response = client.post(url, data={})
    assert response.status_code == 400
    response = client.post(url, data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert len(consent.stored_events()) == 3


@pytest.mark.parametrize("proof", [
    {},  # nothing proven
    {"subject_id": "alice"},  # a user id alone proves nothing
    {"subject_id": "alice", "subject_token": "cst1.abcd1234.4102444800." + "A" * 43},  # a forged token
])
def test_a_history_link_needs_proof(client, consent, proof):
    consent.post(**consent.user("alice"))
    answer = history_link(client, **proof)
    assert answer.status_code == 403 and answer.mimetype == "application/problem+json"


def test_a_history_link_is_for_allowed_origins_only(client, decided):
    assert history_link(client, origin="https://evil.example", visitor_secret=VISITOR).status_code == 403


def test_a_history_link_expires(app, client, decided):
    url = my_data_url(client, visitor_secret=VISITOR)
    app.config["CONSENT_HISTORY_LINK_MAX_AGE_SECONDS"] = -1
    response = client.get(url, headers={"Accept": "text/html"})
    assert response.status_code == 403 and "expired" in response.get_data(as_text=True)


def test_the_visitor_history_does_not_show_another_credentials_decisions(client, decided):
    html = client.get(my_data_url(client, visitor_secret=STRANGER)).get_data(as_text=True)
    assert html.count("<tr>") == 2 and "Advertising" in html and "Marketing SMS" not in html


def test_a_history_of_two_lanes_is_newest_first_by_time(app, client, consent, clock):
    """A visitor's anonymous decisions are in their browser's lane, their signed-in ones in their user's: the
    history interleaves them by time, whatever the seqs of the two lanes."""
    set_site_lanes(app, 4)
    [browser] = credentials_in_lane(app, (lanes.subject_lane("shop", "alice", 4) + 1) % 4, 1, lane_count=4)
    receipts = []

    def decide(**changes):
        clock.shift(seconds=1)
        answer = consent.post(visitor_secret=browser, **changes)
        assert answer.status_code == 201, answer.get_json()
        receipts.append(answer.get_json()["receipt_id"])
        return answer.get_json()

    decide(choices={"necessary": True, "analytics": True})  # the browser's lane, seq 1
    anonymous = decide(choices={"necessary": True, "marketing_sms": True})  # seq 2
    # Signing in links it: the user's lane, seq 1, decided when the decision it links was.
    decide(**consent.user("alice"), choices={"necessary": True, "marketing_sms": True}, collection_method="link",
           links_receipt_id=anonymous["receipt_id"])
    decide(**consent.user("alice"), choices={"necessary": True, "advertising": True})  # the user's lane, seq 2
    decide(choices={"necessary": True})  # signed out again: the browser's lane, seq 3
    assert len({event.lane for event in consent.stored_events()}) == 2

    html = client.get(my_data_url(client, visitor_secret=browser, **consent.user("alice"))).get_data(as_text=True)
    assert re.findall(r">([0-9a-f]{8})</a></td>", html) == [receipt[:8] for receipt in reversed(receipts)]
