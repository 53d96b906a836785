"""Public API: the widget's config, recording a consent, and every refusal storing nothing."""
import json

import pytest

from tests.conftest import SHOP_ORIGIN


def test_config_is_localized(client):
    zh = client.get("/api/v1/sites/shop/config?lang=zh-CN").get_json()
    en = client.get("/api/v1/sites/shop/config?lang=en").get_json()
    assert zh["texts"]["title"] == "您的隐私选择" and en["texts"]["title"] == "Your privacy choices"
    assert zh["strings"]["reject_all"] == "全部拒绝" and en["strings"]["reject_all"] == "Reject all"
    assert [p["id"] for p in zh["purposes"]] == ["necessary", "analytics", "advertising", "marketing_sms",
                                                 "personalized_recommendation", "cross_border_transfer"]
    assert zh["policy"] == {"version": "v1", "url": "https://shop.example/privacy", "changes": None,
                            "archive_url": "http://localhost/policies/shop/v1"}
    transfer = en["purposes"][-1]
    assert transfer["sensitive"] is True
    assert transfer["recipients"] == [{"name": "Example Support Pte. Ltd.", "contact": "privacy@support.example",
                                       "purpose": "Handling support tickets", "country": "SG"}]
    assert zh["age_gate"] is False


def test_config_defaults_to_site_language(client):
    assert client.get("/api/v1/sites/shop/config").get_json()["language"] == "zh-CN"


def test_config_of_unknown_site_is_problem(client):
    response = client.get("/api/v1/sites/nope/config")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "nope" in response.get_json()["detail"]


def test_cors_only_for_allowed_origins(client):
    allowed = client.get("/api/v1/sites/shop/config", headers={"Origin": SHOP_ORIGIN})
    other = client.get("/api/v1/sites/shop/config", headers={"Origin": "https://evil.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert "Access-Control-Allow-Origin" not in other.headers


def test_a_nul_in_the_origin_is_no_allowed_origin_on_every_backend(client):
    """PostgreSQL refuses NUL in a text lookup: the CORS check must find nothing, not fail (found by the funnel's
    tests on PostgreSQL)."""
    for call in (client.get, client.options):
        answer = call("/api/v1/sites/shop/config", headers={"Origin": SHOP_ORIGIN + "\x00",
                                                            "Access-Control-Request-Method": "GET"})
        assert answer.status_code < 500 and "Access-Control-Allow-Origin" not in answer.headers


def test_preflight(client):
    ok = client.options("/api/v1/consents", headers={"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "POST"})
    refused = client.options("/api/v1/consents", headers={"Origin": "https://evil.example"})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_consent_is_recorded_with_receipt(consent):
    response = consent.post(choices={"necessary": True, "analytics": True, "marketing_sms": True})
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert result["receipt"]["consentReceiptID"] == result["receipt_id"]
    [event] = consent.stored_events()
    document = json.loads(event.document)
    # Optional purposes left out were not agreed to.
    assert document["choices"] == {"necessary": True, "analytics": True, "advertising": False, "marketing_sms": True,
                                   "personalized_recommendation": False, "cross_border_transfer": False}
    assert document["action"] == "custom"
    assert event.receipt.receipt_id == result["receipt_id"]


@pytest.mark.parametrize(
    ("choices", "action"),
    [
        ({"necessary": True}, "reject_all"),
        ({"necessary": True, "analytics": True, "advertising": True, "marketing_sms": True,
          "personalized_recommendation": True}, "accept_all"),
    ],
)
def test_action_is_derived_from_choices(consent, choices, action):
    assert consent.post(choices=choices).status_code == 201
    assert consent.stored_events()[0].action == action


def test_browser_signals_from_headers_are_recorded(consent):
    response = consent.post(headers={"DNT": "1", "Sec-GPC": "1"}, signals={"dnt": False, "gpc": False})
    assert response.get_json()["receipt"]["signals"] == {"dnt": True, "gpc": True}


def test_idempotency_key_records_once(consent):
    first = consent.post(idempotency_key="retry-key-123")
    again = consent.post(idempotency_key="retry-key-123")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["receipt_id"] == again.get_json()["receipt_id"]
    assert len(consent.stored_events()) == 1


def test_subject_is_recorded_under_a_pseudonym(consent):
    first = consent.post(**consent.user("user-42")).get_json()["receipt"]
    second = consent.post(**consent.user("user-42")).get_json()["receipt"]
    other = consent.post(**consent.user("user-43")).get_json()["receipt"]
    assert first["piiPrincipalId"].startswith("subject:")
    assert first["piiPrincipalId"] == second["piiPrincipalId"] != other["piiPrincipalId"]
    # The site's own user id is in no event and no receipt: erasing the subject mapping unlinks them.
    for event in consent.stored_events():
        assert "user-42" not in event.document and "user-42" not in event.receipt.document


def test_sensitive_purpose_needs_its_separate_consent(consent):
    everything = {"necessary": True, "analytics": True, "advertising": True, "marketing_sms": True,
                  "personalized_recommendation": True, "cross_border_transfer": True}
    bundled = consent.post(choices=everything)
    assert bundled.status_code == 422 and "cross_border_transfer" in bundled.get_json()["errors"]["choices"]
    separate = consent.post(choices=everything, separate_consents=["cross_border_transfer"])
    assert separate.status_code == 201
    purposes = {p["purposeId"]: p for p in separate.get_json()["receipt"]["services"][0]["purposes"]}
    assert purposes["cross_border_transfer"]["separateConsent"] is True
    assert purposes["cross_border_transfer"]["consentGiven"] is True
    assert purposes["analytics"]["separateConsent"] is False
    [event] = consent.stored_events()
    assert event.action == "accept_all"


def test_accept_all_without_the_sensitive_purpose_is_accept_all(consent):
    choices = {"necessary": True, "analytics": True, "advertising": True, "marketing_sms": True,
               "personalized_recommendation": True}
    assert consent.post(choices=choices).status_code == 201
    assert consent.stored_events()[0].action == "accept_all"


def test_age_gate(app, consent):
    from tests.conftest import import_site, load_site_config

    import_site(app, load_site_config(age_gate=True))
    assert consent.post().status_code == 422  # no statement
    minor = consent.post(age_statement="under_14")
    assert minor.status_code == 201
    receipt = minor.get_json()["receipt"]
    assert receipt["ageStatement"] == "under_14" and receipt["guardianConsent"] == "pending"
    assert not any(p["consentGiven"] for p in receipt["services"][0]["purposes"] if not p["primaryPurpose"])
    assert consent.stored_events()[0].action == "pending_guardian"
    adult = consent.post(age_statement="adult", choices={"necessary": True, "analytics": True})
    assert adult.status_code == 201 and adult.get_json()["receipt"]["guardianConsent"] is None


HOSTILE = [
    # (what, how to post, status)
    ("origin not allowed", {"origin": "https://evil.example"}, 403),
    ("no origin at all", {"origin": None}, 403),
    ("origin of another site's page", {"origin": "https://shop.example.evil.example"}, 403),
    ("unknown site", {"site_id": "nope"}, 404),
    ("site id injection", {"site_id": "shop' OR '1'='1"}, 422),
    ("unknown purpose", {"choices": {"necessary": True, "telepathy": True}}, 422),
    ("stale policy version", {"policy_version": "v0"}, 409),
    ("required purpose refused", {"choices": {"necessary": False}}, 422),
    ("consent as a string", {"choices": {"necessary": True, "analytics": "yes"}}, 422),
    ("consent as a number", {"choices": {"necessary": True, "analytics": 1}}, 422),
    ("empty choices", {"choices": {}}, 422),
    ("choices not an object", {"choices": ["necessary"]}, 422),
    ("unsupported language", {"language": "fr"}, 422),
    ("unknown field", {"extra": "x"}, 422),
    ("subject id too long", {"subject_id": "x" * 129}, 422),
    ("visitor id with markup", {"visitor_id": "<script>alert(1)</script>"}, 422),
    ("do-not-track yet tracking granted",
     {"do_not_track": True, "choices": {"necessary": True, "analytics": True}}, 422),
    ("signal as a string", {"signals": {"dnt": "1"}}, 422),
    ("separate consent for a non-sensitive purpose",
     {"choices": {"necessary": True, "analytics": True}, "separate_consents": ["analytics"]}, 422),
    ("separate consent for a refused purpose", {"separate_consents": ["cross_border_transfer"]}, 422),
    ("under 14 granting an optional purpose",
     {"age_statement": "under_14", "choices": {"necessary": True, "marketing_sms": True}}, 422),
    ("age statement not in the list", {"age_statement": "13"}, 422),
]


@pytest.mark.parametrize(("what", "change", "status"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_consent_is_refused_and_nothing_stored(consent, what, change, status):
    change = dict(change)
    origin = change.pop("origin", SHOP_ORIGIN)
    response = consent.post(origin=origin, **change)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert consent.stored_events() == [] and consent.stored_receipts() == []


@pytest.mark.parametrize(
    ("what", "data", "content_type", "status"),
    [
        ("oversized body", json.dumps({"site_id": "shop", "pad": "x" * 17 * 1024}), "application/json", 413),
        ("not JSON", "site_id=shop", "application/x-www-form-urlencoded", 422),
        ("broken JSON", '{"site_id": "shop",', "application/json", 422),
        ("JSON array", "[1, 2]", "application/json", 422),
        ("JSON null", "null", "application/json", 422),
        ("deeply nested", "[" * 5000 + "]" * 5000, "application/json", 422),
    ],
)
def test_malformed_bodies_are_refused(consent, what, data, content_type, status):
    response = consent.client.post(
        "/api/v1/consents", data=data, headers={"Origin": SHOP_ORIGIN, "Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert consent.stored_events() == []


def test_unknown_api_path_is_problem(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
