"""Verified subjects: nobody can consent, withdraw or look in the name of someone else (issue 11).

The first five tests are the findings as an attacker tried them on the earlier main; each failed there.
"""
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from consent.storage import db
from consent.storage.models import Site, Subject
from consent.subjects import identity, tokens
from tests.audit_support import bulk_events
from tests.conftest import SHOP_ORIGIN, bearer, import_site, load_site_config, subject_token

SMS = {"necessary": True, "marketing_sms": True}
NOTHING = {"necessary": True}
VICTIM = "victims-credential-0123456789abcdef"


def allowed(client, key, *subjects, purpose="marketing_sms"):
    answer = client.post("/api/v1/sites/shop/consents/query", json={"subjects": list(subjects), "purpose": purpose},
                         headers=bearer(key))
    return answer.get_json()["allowed"]


def state(client, key, subject):
    return client.get(f"/api/v1/sites/shop/subjects/{subject}/consents", headers=bearer(key)).get_json()


# --- The findings ----------------------------------------------------------------------------


def test_finding_1_a_user_id_without_a_token_is_never_bound(client, consent, shop_key):
    forged = consent.post(subject_id="user-42", choices=SMS)
    assert forged.status_code == 201 and forged.get_json()["receipt"]["piiPrincipalId"].startswith("visitor:")
    assert allowed(client, shop_key, "user-42") == []
    assert state(client, shop_key, "user-42")["has_record"] is False


def test_finding_1_nobody_withdraws_in_a_users_name(client, consent, shop_key):
    consent.post(**consent.user("user-42"), choices=SMS)
    assert consent.post(subject_id="user-42", choices=NOTHING).status_code == 201  # the attacker's, recorded as theirs
    assert allowed(client, shop_key, "user-42") == ["user-42"]


def test_finding_2_a_copied_visitor_id_opens_no_history(client, consent):
    # The victim's widget of the earlier main sent its visitor id, and its receipts printed it.
    victim = consent.post(visitor_id="victim-visitor-1", choices=SMS).get_json()
    # The attacker copies it, decides with it, and opens "their" history as the earlier main allowed.
    own = consent.post(visitor_id="victim-visitor-1", choices=NOTHING).get_json()
    page = client.get(f"/me/shop?receipt={own['receipt_id']}&token={own['receipt_token']}")
    assert page.status_code == 403 and victim["receipt_id"][:8] not in page.get_data(as_text=True)
    assert "victim-visitor-1" not in json.dumps(victim["receipt"])


def test_finding_2_the_printed_principal_is_no_credential(client, consent):
    victim = consent.post(visitor_secret=VICTIM, choices=SMS).get_json()
    printed = victim["receipt"]["piiPrincipalId"].removeprefix("visitor:")
    assert VICTIM not in json.dumps(victim)
    link = client.post("/api/v1/sites/shop/history-link", json={"visitor_secret": printed},
                       headers={"Origin": SHOP_ORIGIN})
    page = client.get(link.get_json()["history_url"].removeprefix("http://localhost"))
    assert victim["receipt_id"][:8] not in page.get_data(as_text=True)


def test_finding_3_a_replayed_idempotency_key_hands_out_nothing(consent):
    first = consent.post(visitor_id="victim-visitor-1", idempotency_key="first-key-12345", choices=SMS)
    assert first.status_code == 201
    replay = consent.post(**consent.user("someone-else"), idempotency_key="first-key-12345", choices=NOTHING)
    body = replay.get_json()
    assert replay.status_code == 409 and body["type"].endswith("/problems/idempotency-key-reused")
    assert "receipt_token" not in body and first.get_json()["receipt_id"] not in json.dumps(body)
    assert len(consent.stored_events()) == 1


def test_finding_4_the_console_preview_cannot_record(operator, client):
    frame = client.get("/admin/sites/shop/preview/en")
    html = frame.get_data(as_text=True)
    assert frame.status_code == 200 and 'data-mode="device"' in html
    assert "<script>" not in html  # the page's CSP blocks inline scripts: nothing may rely on one
    assert "consent_shop=;" in frame.headers.get("Set-Cookie", "")  # every preview starts undecided


def test_finding_5_the_host_header_never_reaches_signed_data(consent):
    answer = consent.post(headers={"Host": "evil.example"}).get_json()
    assert answer["receipt"]["policyArchiveUrl"] == "http://localhost/policies/shop/v1"
    assert answer["receipt_url"].startswith("http://localhost/api/v1/receipts/")
    assert "evil.example" not in json.dumps(answer)


# --- Subject tokens --------------------------------------------------------------------------


def _other_site_token(app):
    import_site(app, load_site_config(id="other", allowed_origins=["https://other.example"]))
    return subject_token(app, "user-42", site_id="other")


def _retired_secret_token(app):
    token = subject_token(app, "user-42")
    with app.app_context(), db.write_transaction() as session:
        identity.rotate_secret(session, "shop", overlap_seconds=0)
    return token


FORGED_TOKENS = {
    "missing": lambda app: None,
    "not a token": lambda app: "hello",
    "forged mac": lambda app: subject_token(app, "user-42")[:-4] + "AAAA",
    "another user's": lambda app: subject_token(app, "user-43"),
    "another site's": _other_site_token,
    "unknown key": lambda app: tokens.make_token("sts_guess", "feedbeef", "shop", "user-42", time.time() + 60),
    "expired": lambda app: subject_token(app, "user-42", expires_in=-30 * 24 * 3600),
    "valid for too long": lambda app: subject_token(app, "user-42", expires_in=365 * 24 * 3600),
    "retired key": _retired_secret_token,
}


@pytest.mark.parametrize("name", FORGED_TOKENS)
def test_only_a_valid_token_binds_a_user(app, client, consent, shop_key, name):
    answer = consent.post(subject_id="user-42", subject_token=FORGED_TOKENS[name](app), choices=SMS)
    body = answer.get_json()
    assert answer.status_code == 201 and body["subject_verified"] is False and body["subject_problem"]
    assert body["receipt"]["principalIdentifiedBy"] == "none"
    assert allowed(client, shop_key, "user-42") == []


def test_a_valid_token_binds_the_user_and_the_receipt_says_how(client, consent, shop_key):
    body = consent.post(**consent.user("user-42"), choices=SMS).get_json()
    assert body["subject_verified"] is True and body["subject_problem"] is None
    assert body["receipt"]["principalIdentifiedBy"] == "subject_token" and body["receipt"]["subjectTokenKeyId"]
    assert allowed(client, shop_key, "user-42") == ["user-42"]
    assert state(client, shop_key, "user-42")["purposes"]["marketing_sms"]["verified"] is True


def test_a_rotated_secret_keeps_verifying_during_its_overlap(app, client, consent, shop_key):
    old_token = subject_token(app, "user-42")
    with app.app_context(), db.write_transaction() as session:
        new = identity.rotate_secret(session, "shop", overlap_seconds=3600)
    assert consent.post(subject_id="user-42", subject_token=old_token, choices=SMS).get_json()["subject_verified"]
    fresh = tokens.make_token(new.secret, new.kid, "shop", "user-43", time.time() + 60)
    assert consent.post(subject_id="user-43", subject_token=fresh, choices=SMS).get_json()["subject_verified"]
    assert allowed(client, shop_key, "user-42", "user-43") == ["user-42", "user-43"]


def test_a_visitor_credential_is_kept_only_as_a_keyed_hash(consent):
    consent.post(visitor_secret=VICTIM)
    [event] = consent.stored_events()
    assert VICTIM not in event.document and VICTIM not in event.visitor_id
    assert VICTIM not in event.receipt.document


# --- The offline queue ----------------------------------------------------------------------


def millis(moment):
    return int(moment.timestamp() * 1000)


def test_a_grant_sent_late_does_not_override_a_later_withdrawal(client, consent, shop_key):
    now = datetime.now(UTC)
    user = consent.user("user-42")
    consent.post(**user, choices=NOTHING, decided_at=millis(now - timedelta(minutes=5)))  # withdrawn online
    late = consent.post(**user, choices=SMS, decided_at=millis(now - timedelta(hours=2)))  # granted offline earlier
    assert late.status_code == 201  # recorded, with its receipt, as what happened
    assert allowed(client, shop_key, "user-42") == []


def test_a_clock_ahead_of_ours_counts_as_now(client, consent, shop_key):
    user = consent.user("user-42")
    consent.post(**user, choices=SMS, decided_at=millis(datetime.now(UTC) + timedelta(days=365)))
    consent.post(**user, choices=NOTHING)
    assert allowed(client, shop_key, "user-42") == []


def test_a_grant_older_than_the_bound_is_refused_and_a_withdrawal_is_not(consent):
    long_ago = millis(datetime.now(UTC) - timedelta(days=31))
    refused = consent.post(**consent.user("user-42"), choices=SMS, decided_at=long_ago)
    assert refused.status_code == 422 and refused.get_json()["action"] == "ask_again"
    assert refused.get_json()["type"].endswith("/problems/decision-too-old")
    assert consent.post(**consent.user("user-42"), choices=NOTHING, decided_at=long_ago).status_code == 201
    assert len(consent.stored_events()) == 1


def test_an_expired_token_proves_a_queued_withdrawal_within_the_grace_period(app, client, consent, shop_key):
    consent.post(**consent.user("user-42"), choices=SMS)
    expired = subject_token(app, "user-42", expires_in=-3600)
    withdrawal = consent.post(subject_id="user-42", subject_token=expired, choices=NOTHING).get_json()
    assert withdrawal["subject_verified"] is True
    assert allowed(client, shop_key, "user-42") == []


def test_an_expired_token_proves_no_grant(app, client, consent, shop_key):
    expired = subject_token(app, "user-42", expires_in=-3600)
    grant = consent.post(subject_id="user-42", subject_token=expired, choices=SMS).get_json()
    assert grant["subject_verified"] is False and grant["subject_problem"] == "subject_token_expired"
    assert allowed(client, shop_key, "user-42") == []


def test_an_expired_token_beyond_the_grace_period_proves_no_withdrawal(app, client, consent, shop_key):
    consent.post(**consent.user("user-42"), choices=SMS)
    too_old = subject_token(app, "user-42", expires_in=-8 * 24 * 3600)
    withdrawal = consent.post(subject_id="user-42", subject_token=too_old, choices=NOTHING).get_json()
    assert withdrawal["subject_verified"] is False
    assert allowed(client, shop_key, "user-42") == ["user-42"]


def test_the_subject_token_is_left_out_of_the_idempotency_comparison(app, consent):
    body = consent.body(**consent.user("user-42"), choices=SMS, idempotency_key="retried-key-1234",
                        visitor_secret=VICTIM)
    first = consent.post(body)
    renewed = {**body, "subject_token": subject_token(app, "user-42", expires_in=7200)}
    again = consent.post(renewed)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["receipt_id"] == first.get_json()["receipt_id"]


# --- Refusals the widget can tell apart -------------------------------------------------------


@pytest.mark.parametrize(("changes", "slug", "action"), [
    ({"policy_version": "v0"}, "stale-policy-version", "ask_again"),
    ({"choices": {"necessary": False}}, "invalid-request", "drop"),
    ({"site_id": "nowhere"}, "not-found", "drop"),
])
def test_every_refusal_says_its_type_and_what_to_do(client, consent, changes, slug, action):
    body = consent.post(**changes).get_json()
    assert body["type"] == f"http://localhost/api/v1/problems/{slug}" and body["action"] == action
    described = client.get(f"/api/v1/problems/{slug}").get_json()
    assert described["action"] == action and described["title"] == body["title"]


def test_a_foreign_origin_refusal_says_drop(consent):
    body = consent.post(origin="https://evil.example").get_json()
    assert body["type"].endswith("/problems/origin-not-allowed") and body["action"] == "drop"


# --- Login after deciding, and a second device --------------------------------------------------


def test_login_links_the_anonymous_decision_to_the_user(client, consent, shop_key):
    anonymous = consent.post(visitor_secret=VICTIM, choices=SMS).get_json()
    assert allowed(client, shop_key, "user-42") == []
    linked = consent.post(**consent.user("user-42"), visitor_secret=VICTIM, choices=SMS, collection_method="link",
                          links_receipt_id=anonymous["receipt_id"])
    body = linked.get_json()
    assert linked.status_code == 201 and body["receipt_id"] != anonymous["receipt_id"]
    assert body["receipt"]["linkedReceiptId"] == anonymous["receipt_id"]
    assert body["receipt"]["decidedAt"] == json.loads(consent.stored_events()[0].document)["decided_at"]
    assert allowed(client, shop_key, "user-42") == ["user-42"]


@pytest.mark.parametrize(("changes", "status"), [
    ({"visitor_secret": "another-visitors-credential-0123"}, 422),  # not the visitor who decided
    ({"choices": {"necessary": True}}, 422),  # other choices than the linked decision
    ({"subject_token": None}, 403),  # no proven user to link to
])
def test_a_link_is_only_for_the_visitor_who_decided(client, consent, shop_key, changes, status):
    anonymous = consent.post(visitor_secret=VICTIM, choices=SMS).get_json()
    body = {**consent.user("user-42"), "visitor_secret": VICTIM, "choices": SMS, "collection_method": "link",
            "links_receipt_id": anonymous["receipt_id"], **changes}
    assert consent.post(**body).status_code == status
    assert len(consent.stored_events()) == 1 and allowed(client, shop_key, "user-42") == []


def subject_decision(client, origin=SHOP_ORIGIN, **proof):
    return client.post("/api/v1/sites/shop/subject-decision", json=proof, headers={"Origin": origin})


def test_a_new_device_gets_the_verified_decision(client, consent):
    recorded = consent.post(**consent.user("user-42"), choices=SMS).get_json()
    answer = subject_decision(client, **consent.user("user-42")).get_json()["decision"]
    assert answer["receipt_id"] == recorded["receipt_id"] and answer["choices"]["marketing_sms"] is True
    assert client.get(f"/api/v1/receipts/{answer['receipt_id']}?token={answer['receipt_token']}").status_code == 200
    assert subject_decision(client, **consent.user("user-43")).get_json() == {"decision": None}


@pytest.mark.parametrize("proof", [{"subject_id": "user-42"}, {"subject_id": "user-42", "subject_token": "x" * 60}])
def test_a_users_decision_is_read_only_with_their_token(client, consent, proof):
    consent.post(**consent.user("user-42"), choices=SMS)
    answer = subject_decision(client, **proof)
    assert answer.status_code == 403 and answer.get_json()["type"].endswith("/problems/subject-not-proven")


def test_a_users_decision_is_for_allowed_origins_only(client, consent):
    assert subject_decision(client, origin="https://evil.example", **consent.user("user-42")).status_code == 403


# --- Bindings stored before subject tokens -------------------------------------------------------


def legacy_binding(app, subject_id):
    """An event bound to a user the way the earlier main bound it: on the browser's word."""
    pseudonym = str(uuid.uuid4())
    with app.app_context(), db.write_transaction() as session:
        session.execute(insert(Subject), [{"site_id": "shop", "subject_id": subject_id, "pseudonym": pseudonym,
                                           "created_at": datetime.now(UTC)}])
    bulk_events(app, "shop", 1, subject_ref=pseudonym, start=datetime.now(UTC))  # with its receipt


def test_bindings_stored_before_tokens_are_reported_unverified_and_never_allowed(app, client, shop_key):
    legacy_binding(app, "legacy-user")
    body = state(client, shop_key, "legacy-user")
    assert body["has_record"] is True and body["verified"] is False
    assert all(purpose["granted"] is False and purpose["verified"] is False for purpose in body["purposes"].values())
    assert allowed(client, shop_key, "legacy-user", purpose="analytics") == []


def test_a_verified_decision_outranks_an_unverified_binding(app, client, consent, shop_key):
    consent.post(**consent.user("legacy-user"), choices=SMS)
    legacy_binding(app, "legacy-user-2")
    assert allowed(client, shop_key, "legacy-user", "legacy-user-2") == ["legacy-user"]


def test_migration_gives_every_existing_site_a_subject_secret(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'old.sqlite3'}", CONSENT_KEY_DIR=str(tmp_path / "keys"))
    db.upgrade(app, "0007_auditor_disabled")
    with app.app_context(), db.write_transaction() as session:
        session.execute(insert(Site.__table__), [{
            "id": "old", "name": {}, "controller": {}, "jurisdiction": "CN", "default_language": "en", "texts": {},
            "age_gate": False, "current_policy_version": "v1", "created_at": datetime.now(UTC),
            "updated_at": datetime.now(UTC)}])
    db.upgrade(app)
    with app.app_context():
        assert identity.current_secret(db.get_session(), "old").secret.startswith("sts_")
    db.dispose(app)


# --- Hostile input on the new write and read paths ------------------------------------------------


HOSTILE_PROOFS = [
    b"not json", b"[]", b"null", b'{"visitor_secret": 5}', b'{"subject_id": "\\ud800", "subject_token": "x"}',
    b'{"subject_id": "a", "subject_token": "\\ud800"}', b'{"visitor_secret": "\\ud800\\ud800\\ud800\\ud800\\ud800"}',
    b'{"subject_id": "a\\u0000", "subject_token": "cst1.a.1.b"}', b'{"subject_token": "' + b"x" * 5000 + b'"}',
    b'{"visitor_secret": "short"}', b'{"unknown": true}', b'{"subject_id": ["a"], "subject_token": {"b": 1}}',
]


@pytest.mark.parametrize("path", ["history-link", "subject-decision"])
@pytest.mark.parametrize("body", HOSTILE_PROOFS)
def test_hostile_proofs_get_a_clear_refusal(client, consent, path, body):
    consent.post(**consent.user("a"), choices=SMS)
    answer = client.post(f"/api/v1/sites/shop/{path}", data=body,
                         headers={"Origin": SHOP_ORIGIN, "Content-Type": "application/json"})
    assert answer.status_code in (403, 422) and answer.mimetype == "application/problem+json"
    assert len(consent.stored_events()) == 1


HOSTILE_DECISIONS = [
    {"subject_id": "\ud800", "subject_token": "x"},
    {"subject_id": "a", "subject_token": "\udfff"},
    {"subject_token": "cst1.abc.99999999999999999999.x"},
    {"decided_at": -1}, {"decided_at": 10**20}, {"decided_at": 1.5}, {"decided_at": "yesterday"},
    {"visitor_secret": "a" * 200}, {"visitor_secret": "\ud800" * 30},
    {"links_receipt_id": str(uuid.uuid4())},  # without collection_method "link"
    {"collection_method": "link"},  # without links_receipt_id
    {"collection_method": "link", "links_receipt_id": "../../etc/passwd"},
    {"collection_method": "link", "links_receipt_id": str(uuid.uuid4()), "visitor_secret": VICTIM},  # no such receipt
]


@pytest.mark.parametrize("changes", HOSTILE_DECISIONS)
def test_hostile_identity_fields_never_bind_anyone_or_fail(client, consent, shop_key, changes):
    answer = consent.post(**changes)
    assert answer.status_code in (201, 403, 422), answer.get_data(as_text=True)
    if answer.status_code == 201:
        assert answer.get_json()["subject_verified"] is False
    else:
        assert answer.mimetype == "application/problem+json" and consent.stored_events() == []


@pytest.mark.parametrize("path", ["history-link", "subject-decision"])
def test_an_oversized_proof_or_an_unknown_site_is_refused(client, consent, path):
    too_big = client.post(f"/api/v1/sites/shop/{path}", data=b'{"subject_token": "' + b"x" * 20_000 + b'"}',
                          headers={"Origin": SHOP_ORIGIN, "Content-Type": "application/json"})
    unknown = client.post(f"/api/v1/sites/nowhere/{path}", json=consent.user("a"), headers={"Origin": SHOP_ORIGIN})
    assert (too_big.status_code, unknown.status_code) == (413, 404)
    assert too_big.mimetype == unknown.mimetype == "application/problem+json"
