"""Receipts: the Kantara shape, the HMAC signature, and the visitor's access token."""
import hashlib
import hmac
import json

import pytest
from sqlalchemy import select, text

from consent.ledger import receipts
from consent.storage import db
from consent.storage.models import ConsentEvent, Receipt
from tests.audit_support import legacy_receipt_signature

KANTARA_FIELDS = {
    "version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID", "language",
    "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive", "spiCat",
}


@pytest.fixture
def recorded(consent):
    response = consent.post(choices={"necessary": True, "analytics": True}, signals={"dnt": True, "gpc": False})
    assert response.status_code == 201
    return response.get_json()


def test_receipt_has_kantara_shape_and_our_extensions(recorded):
    receipt = recorded["receipt"]
    assert KANTARA_FIELDS <= set(receipt)
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["jurisdiction"] == "CN"
    assert receipt["policyUrl"] == "https://shop.example/privacy" and receipt["policyVersion"] == "v1"
    assert receipt["piiPrincipalId"].startswith("visitor:")
    assert receipt["piiControllers"][0]["piiController"] == "示例商城有限公司"
    assert receipt["signals"] == {"dnt": True, "gpc": False}
    given = {p["purposeId"]: p["consentGiven"] for p in receipt["services"][0]["purposes"]}
    assert given == {"necessary": None, "analytics": True, "advertising": False, "marketing_sms": False,
                     "personalized_recommendation": False, "cross_border_transfer": False}
    advertising = next(p for p in receipt["services"][0]["purposes"] if p["purposeId"] == "advertising")
    assert advertising["thirdPartyDisclosure"] is True and advertising["thirdPartyName"] == ["示例广告网络"]


def test_visitor_fetches_receipt_and_signature_checks(client, app, recorded):
    response = client.get(
        f"/api/v1/receipts/{recorded['receipt_id']}", query_string={"token": recorded["receipt_token"]}
    )
    assert response.status_code == 200
    fetched = response.get_json()
    assert fetched["receipt"] == recorded["receipt"] and fetched["signature_valid"] is True
    # Anyone holding the service's secret checks the signature independently of our code (README, "Receipts").
    key = hashlib.sha256(b"consent.receipt.mac.v2" + b"test-secret").digest()
    text = json.dumps(fetched["receipt"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert fetched["signature"] == "v2." + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_receipt_signature_is_a_detached_mac_over_the_receipt(app, recorded):
    """Issue 18: the HMAC no longer embeds the receipt; it vouches for its canonical JSON, and only that."""
    signature = recorded["signature"]
    assert signature.startswith("v2.") and len(signature) == 3 + 64
    forged = {**recorded["receipt"], "signals": {"dnt": False, "gpc": True}}
    flipped = f"{signature[:-1]}{'0' if signature[-1] != '0' else '1'}"
    with app.app_context():
        assert receipts.hmac_signature_valid(signature, recorded["receipt"])
        assert not receipts.hmac_signature_valid(signature, forged)
        for tampered in (flipped, signature[:-1], signature + "0", "v2." + "é" * 64, "v2.", "", None, 42):
            assert not receipts.hmac_signature_valid(tampered, recorded["receipt"])


def test_receipts_signed_before_issue_18_still_verify(app, recorded):
    """The itsdangerous tokens issued before (the receipt inside, compressed) keep verifying, and only theirs."""
    with app.app_context():
        legacy = legacy_receipt_signature(recorded["receipt"])
        assert not legacy.startswith("v2.")
        assert receipts.hmac_signature_valid(legacy, recorded["receipt"])
        payload, mac = legacy.rsplit(".", 1)
        forged = {**recorded["receipt"], "signals": {"dnt": False, "gpc": True}}
        flipped = f"{mac[:-3]}{'B' if mac[-3] == 'A' else 'A'}{mac[-2:]}"
        assert not receipts.hmac_signature_valid(legacy, forged)
        for tampered in (f"{payload}x.{mac}", f"{payload}.{flipped}"):
            assert not receipts.hmac_signature_valid(tampered, recorded["receipt"])


def test_a_rotated_secret_key_keeps_both_kinds_of_receipt_valid(app_with, recorded, app):
    with app.app_context():
        legacy = legacy_receipt_signature(recorded["receipt"])
        before = receipts.sign_receipt("{}")
    rotated = app_with(SECRET_KEY="a-new-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]])
    with rotated.app_context():
        assert receipts.hmac_signature_valid(recorded["signature"], recorded["receipt"])
        assert receipts.hmac_signature_valid(legacy, recorded["receipt"])
        assert receipts.sign_receipt("{}") != before  # new receipts are signed with the new key
    alone = app_with(SECRET_KEY="a-new-key-" + "x" * 40)
    with alone.app_context():
        assert not receipts.hmac_signature_valid(recorded["signature"], recorded["receipt"])
        assert not receipts.hmac_signature_valid(legacy, recorded["receipt"])


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "flipped", "other-receipt"],
)
def test_bad_access_token_is_refused(client, app, consent, recorded, token):
    if token == "flipped":  # one character of the signature changed (not the last: its low bits are padding)
        payload, signature = recorded["receipt_token"].rsplit(".", 1)
        signature = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
        token = f"{payload}.{signature}"
    if token == "other-receipt":
        token = consent.post().get_json()["receipt_token"]
    response = client.get(f"/api/v1/receipts/{recorded['receipt_id']}", query_string={"token": token})
    assert response.status_code == 403 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("token", ["v3.", "v3.1.", "v3..", "v3.-5.ab", "v3.１２.ab", "v3.99999999999999999.ab",
                                   "v3.12.ab\u00e9", "v3.12.ab.cd", "v3.%ED%A0%80.x", "v3.12.%FF"])
def test_a_malformed_receipt_token_is_refused_not_an_error(client, recorded, token):
    response = client.get(f"/api/v1/receipts/{recorded['receipt_id']}?token={token}")  # as sent, not encoded
    assert response.status_code == 403 and response.mimetype == "application/problem+json"


def test_a_receipt_token_lasts_its_lifetime_and_no_longer(client, app, recorded, clock):
    url, token = f"/api/v1/receipts/{recorded['receipt_id']}", recorded["receipt_token"]
    assert token.startswith(receipts.ACCESS_PREFIX)
    clock.shift(seconds=app.config["CONSENT_RECEIPT_TOKEN_MAX_AGE_SECONDS"] - 60)
    assert client.get(url, query_string={"token": token}).status_code == 200
    clock.shift(seconds=120)
    expired = client.get(url, query_string={"token": token})
    assert expired.status_code == 403 and "expired" in expired.get_json()["detail"]


def test_a_receipt_token_from_a_clock_far_ahead_is_refused(client, app, recorded, clock):
    clock.shift(seconds=2 * receipts.CLOCK_SKEW_SECONDS)
    with app.app_context():
        ahead = receipts.access_token(recorded["receipt_id"])
    clock.shift(seconds=-2 * receipts.CLOCK_SKEW_SECONDS)
    response = client.get(f"/api/v1/receipts/{recorded['receipt_id']}", query_string={"token": ahead})
    assert response.status_code == 403


def test_receipt_tokens_issued_before_v3_stay_valid(client, app, recorded):
    """Tokens issued before issue 18 were itsdangerous timed tokens of the receipt id: still honoured, and still
    only for their own receipt."""
    with app.app_context():
        legacy = receipts.timed_token(receipts.ACCESS_SALT, recorded["receipt_id"])
        other = receipts.timed_token(receipts.ACCESS_SALT, "another-receipt")
    url = f"/api/v1/receipts/{recorded['receipt_id']}"
    assert client.get(url, query_string={"token": legacy}).status_code == 200
    assert client.get(url, query_string={"token": other}).status_code == 403


def test_rotated_secret_still_verifies_old_receipts(database_url, recorded):
    from tests.conftest import make_app

    rotated = make_app(database_url, SECRET_KEY="new-secret", SECRET_KEY_FALLBACKS=["test-secret"])
    response = rotated.test_client().get(
        f"/api/v1/receipts/{recorded['receipt_id']}", query_string={"token": recorded["receipt_token"]}
    )
    assert response.status_code == 200 and response.get_json()["signature_valid"] is True
    db.dispose(rotated)


def test_no_raw_ip_is_stored(app, consent):
    consent.client.post(
        "/api/v1/consents", json=consent.body(), headers={"Origin": "https://shop.example"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    with app.app_context():
        session = db.get_session()
        [event] = session.scalars(select(ConsentEvent)).all()
        assert event.client_hash and len(event.client_hash) == 32
        for table in ("consent_events", "receipts"):
            for row in session.execute(text(f"SELECT * FROM {table}")):
                assert "203.0.113.77" not in " ".join(map(str, row))
        assert session.scalars(select(Receipt)).one().receipt_id
