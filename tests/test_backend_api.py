"""Site backend API: per-purpose state with receipts, batch checks, erasure, and who may ask."""
import json

import pytest
from sqlalchemy import select

from consent.accounts import api_keys
from consent.ledger.chain import verify_chain
from consent.schemas import MAX_BATCH_SUBJECTS
from consent.storage import db
from consent.storage.models import Subject
from consent.storage.operations import ApiKey, Erasure
from tests.conftest import bearer, create_api_key, import_site, load_site_config

ALL_EXCEPT_SENSITIVE = {"necessary": True, "analytics": True, "advertising": True, "marketing_sms": True,
                        "personalized_recommendation": True}


def state(client, key, subject, site="shop"):
    return client.get(f"/api/v1/sites/{site}/subjects/{subject}/consents", headers=bearer(key))


def test_refused_sms_says_no_and_granted_sms_says_yes_with_receipt(client, consent, shop_key):
    assert consent.post(**consent.user("alice"), choices={"necessary": True, "marketing_sms": False}).status_code == 201
    granted = consent.post(**consent.user("bob"), choices={"necessary": True, "marketing_sms": True}).get_json()

    alice = state(client, shop_key, "alice").get_json()
    bob = state(client, shop_key, "bob").get_json()
    assert alice["has_record"] is True
    assert alice["purposes"]["marketing_sms"]["granted"] is False
    sms = bob["purposes"]["marketing_sms"]
    assert (sms["granted"], sms["receipt_id"], sms["separate_consent"]) == (True, granted["receipt_id"], False)
    assert sms["recorded_at"].startswith(consent.stored_events()[1].created_at.date().isoformat())
    assert bob["purposes"]["analytics"]["granted"] is False


def test_latest_decision_wins(client, consent, shop_key):
    consent.post(**consent.user("bob"), choices={"necessary": True, "marketing_sms": True})
    withdrawn = consent.post(**consent.user("bob"), choices={"necessary": True}).get_json()
    sms = state(client, shop_key, "bob").get_json()["purposes"]["marketing_sms"]
    assert sms["granted"] is False and sms["receipt_id"] == withdrawn["receipt_id"]


def test_unknown_subject_has_no_record(client, shop_key):
    body = state(client, shop_key, "nobody").get_json()
    assert body["has_record"] is False
    assert all(p == {"granted": False, "verified": False, "receipt_id": None, "recorded_at": None,
                     "decided_at": None, "separate_consent": False, "expires_at": None, "expired_at": None}
               for p in body["purposes"].values())
    assert (body["expires_at"], body["expired_at"]) == (None, None)


def test_separate_consent_is_carried(client, consent, shop_key):
    consent.post(**consent.user("carol"), choices={**ALL_EXCEPT_SENSITIVE, "cross_border_transfer": True},
                 separate_consents=["cross_border_transfer"])
    transfer = state(client, shop_key, "carol").get_json()["purposes"]["cross_border_transfer"]
    assert transfer["granted"] is True and transfer["separate_consent"] is True


def test_batch_answers_who_may_be_messaged(client, consent, shop_key):
    consent.post(**consent.user("alice"), choices={"necessary": True})
    bob = consent.post(**consent.user("bob"), choices={"necessary": True, "marketing_sms": True}).get_json()
    response = client.post("/api/v1/sites/shop/consents/query", headers=bearer(shop_key),
                           json={"subjects": ["alice", "bob", "nobody", "bob"], "purpose": "marketing_sms"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["allowed"] == ["bob", "bob"]
    assert [(r["subject_id"], r["granted"], r["receipt_id"]) for r in body["results"]] == [
        ("alice", False, body["results"][0]["receipt_id"]), ("bob", True, bob["receipt_id"]),
        ("nobody", False, None), ("bob", True, bob["receipt_id"]),
    ]
    assert body["results"][0]["receipt_id"] is not None  # a refusal is proven too


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subjects": [f"u{i}" for i in range(MAX_BATCH_SUBJECTS + 1)], "purpose": "marketing_sms"}, "subjects"),
        ({"subjects": [], "purpose": "marketing_sms"}, "subjects"),
        ({"subjects": ["a"], "purpose": "Not A Purpose"}, "purpose"),
        ({"subjects": ["x" * 129], "purpose": "marketing_sms"}, "subjects"),
        ({"subjects": [1, 2], "purpose": "marketing_sms"}, "subjects"),
        ({"subjects": "alice", "purpose": "marketing_sms"}, "subjects"),
        ({"purpose": "marketing_sms"}, "subjects"),
        ({"subjects": ["a"], "purpose": "marketing_sms", "extra": 1}, "extra"),
    ],
)
def test_bad_batch_queries_are_refused(client, shop_key, body, field):
    response = client.post("/api/v1/sites/shop/consents/query", headers=bearer(shop_key), json=body)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"{" * 10000])
def test_batch_query_with_bad_json_is_refused(client, shop_key, raw):
    response = client.post("/api/v1/sites/shop/consents/query", data=raw,
                           headers={**bearer(shop_key), "Content-Type": "application/json"})
    assert response.status_code == 422


@pytest.fixture
def other_site(app):
    import_site(app, load_site_config(id="other", allowed_origins=["https://other.example"]))
    return create_api_key(app, "other")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ({"Authorization": "Bearer csk_00000000_forged"}, 401),
        ("other", 403),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/sites/shop/subjects/alice/consents"),
        ("post", "/api/v1/sites/shop/consents/query"),
        ("delete", "/api/v1/sites/shop/subjects/alice"),
        ("get", "/api/v1/sites/missing/subjects/alice/consents"),
    ],
)
def test_only_the_sites_own_key_opens_it(client, consent, other_site, headers, status, method, path):
    consent.post(**consent.user("alice"), choices={"necessary": True, "marketing_sms": True})
    headers = bearer(other_site) if headers == "other" else headers
    response = getattr(client, method)(path, headers=headers, json={"subjects": ["alice"], "purpose": "marketing_sms"})
    assert response.status_code == status and response.mimetype == "application/problem+json"
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with consent.app.app_context():
        assert db.get_session().get(Subject, ("shop", "alice")) is not None  # nothing erased


def test_key_of_site_a_opens_site_a_only(client, shop_key, other_site):
    assert state(client, other_site, "alice", site="other").status_code == 200
    assert state(client, shop_key, "alice", site="other").status_code == 403
    assert state(client, other_site, "alice", site="shop").status_code == 403


def test_revoked_key_is_refused_and_stored_only_as_hash(app, client, shop_key):
    assert state(client, shop_key, "alice").status_code == 200
    with app.app_context():
        session = db.get_session()
        [key] = session.scalars(select(ApiKey)).all()
        assert shop_key.startswith(key.prefix) and shop_key not in (key.token_hash, key.prefix)
        assert key.token_hash == api_keys.token_hash(shop_key)
    with app.app_context(), db.write_transaction() as session:
        api_keys.revoke_key(session, "shop", key.prefix)
    assert state(client, shop_key, "alice").status_code == 401


def test_erasure_unlinks_the_subject_and_keeps_the_chain(app, client, consent, shop_key):
    consent.post(**consent.user("alice"), choices={"necessary": True, "marketing_sms": True})
    consent.post(**consent.user("bob"), choices={"necessary": True, "marketing_sms": True})
    response = client.delete("/api/v1/sites/shop/subjects/alice", headers=bearer(shop_key))
    assert response.status_code == 200 and response.get_json()["erased"] is True
    again = client.delete("/api/v1/sites/shop/subjects/alice", headers=bearer(shop_key))
    assert again.status_code == 200 and again.get_json()["erased"] is False

    after = state(client, shop_key, "alice").get_json()
    assert after["has_record"] is False and after["purposes"]["marketing_sms"]["granted"] is False
    assert state(client, shop_key, "bob").get_json()["purposes"]["marketing_sms"]["granted"] is True
    with app.app_context():
        session = db.get_session()
        assert verify_chain(session, "shop").intact
        assert len(consent.stored_events()) == 2
        erasures = session.scalars(select(Erasure).order_by(Erasure.id)).all()
        assert [e.had_record for e in erasures] == [True, False]
        assert all("alice" not in e.subject_hash and len(e.subject_hash) == 64 for e in erasures)
        assert erasures[0].subject_hash == erasures[1].subject_hash


def test_subject_id_too_long_is_refused(client, shop_key):
    assert state(client, shop_key, "x" * 129).status_code == 422
    assert client.delete(f"/api/v1/sites/shop/subjects/{'x' * 129}", headers=bearer(shop_key)).status_code == 422


def test_under_14_grants_nothing_and_is_pending(app, client, consent, shop_key):
    import_site(app, load_site_config(age_gate=True))
    refused = consent.post(**consent.user("kid"), age_statement="under_14", choices=ALL_EXCEPT_SENSITIVE)
    assert refused.status_code == 422
    assert consent.post(**consent.user("kid"), age_statement="under_14").status_code == 201
    body = state(client, shop_key, "kid").get_json()
    assert body["guardian_consent"] == "pending"
    assert not any(p["granted"] for pid, p in body["purposes"].items() if pid != "necessary")
    assert body["purposes"]["necessary"]["granted"] is True  # not based on consent: processed all the same
    [event] = consent.stored_events()
    assert event.action == "pending_guardian"
    assert json.loads(event.document)["guardian_consent"] == "pending"


def test_accept_all_never_grants_a_sensitive_purpose(client, consent, shop_key):
    # "Accept all" in the widget sends every non-sensitive purpose granted; the sensitive one stays off.
    consent.post(**consent.user("dave"), choices=ALL_EXCEPT_SENSITIVE)
    purposes = state(client, shop_key, "dave").get_json()["purposes"]
    assert purposes["marketing_sms"]["granted"] is True
    assert purposes["cross_border_transfer"]["granted"] is False
    # Folding it into the same step is refused outright.
    bundled = consent.post(**consent.user("dave"), choices={**ALL_EXCEPT_SENSITIVE, "cross_border_transfer": True})
    assert bundled.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/sites/shop/subjects/a%00b/consents", None),
        ("delete", "/api/v1/sites/shop/subjects/a%00b", None),
        ("post", "/api/v1/sites/shop/consents/query", {"subjects": ["\x00"], "purpose": "marketing_sms"}),
        ("post", "/api/v1/sites/shop/consents/query", {"subjects": ["line\nbreak"], "purpose": "marketing_sms"}),
    ],
)
def test_control_characters_in_subject_ids_are_refused(client, shop_key, method, path, body):
    response = getattr(client, method)(path, headers=bearer(shop_key), json=body)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "path", ["/api/v1/sites/a%00b/config", "/api/v1/sites/a%00b/subjects/x/consents", "/policies/shop/v%001",
             "/policies/a%00/v1", "/api/v1/sites/shop%0A/config"],
)
def test_nul_in_path_is_not_found_not_a_crash(client, shop_key, path):
    response = client.get(path, headers=bearer(shop_key))
    assert response.status_code in (403, 404)


def test_nul_in_the_consent_subject_is_refused(consent):
    response = consent.post(**consent.user("alice\x00"))
    assert response.status_code == 422 and "subject_id" in response.get_json()["errors"]
    assert consent.stored_events() == []
