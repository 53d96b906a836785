"""A decision's lifetime: the site's setting, the expiry rule, and an expired decision counting as none.

Time is moved with the `clock` fixture (tests/conftest.py), which shifts the service's one clock,
consent/clock.py: decisions are recorded at one time and asked about at another.
"""
import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import select, update

from consent.errors import InvalidRequest
from consent.ledger import lifetime, receipts
from consent.ledger.chain import text_hash, verify_chain
from consent.proof.verify import verify_receipt
from consent.sites import configs
from consent.storage import db
from consent.storage.models import ConsentEvent, Receipt, ReceiptSignature, Site
from consent.subjects.rights import NO_RECORD
from tests.conftest import SHOP_ORIGIN, bearer, import_site, load_site_config, subject_token

SMS = {"necessary": True, "marketing_sms": True}


def at(text):
    return datetime.fromisoformat(text)


# --- The rule: calendar months in UTC, clamped to the month's last day ------------------------------


@pytest.mark.parametrize(("decided", "months", "expires"), [
    ("2025-03-15T09:30:00+00:00", 12, "2026-03-15T09:30:00+00:00"),
    ("2025-01-31T23:59:59.999000+00:00", 1, "2025-02-28T23:59:59.999000+00:00"),  # a shorter month
    ("2024-01-31T10:00:00+00:00", 1, "2024-02-29T10:00:00+00:00"),  # a leap year's February
    ("2024-02-29T10:00:00+00:00", 12, "2025-02-28T10:00:00+00:00"),  # the 29th, a year on
    ("2024-02-29T10:00:00+00:00", 13, "2025-03-29T10:00:00+00:00"),
    ("2023-02-28T10:00:00+00:00", 12, "2024-02-28T10:00:00+00:00"),  # not moved to the 29th
    ("2025-08-31T00:00:00+00:00", 1, "2025-09-30T00:00:00+00:00"),
    ("2025-12-31T12:00:00+00:00", 2, "2026-02-28T12:00:00+00:00"),  # across a year's end
    ("2025-11-30T12:00:00+00:00", 13, "2026-12-30T12:00:00+00:00"),
    ("2025-03-31T01:00:00+08:00", 1, "2025-04-30T17:00:00+00:00"),  # in UTC: 30 March 17:00
])
def test_expiry_adds_calendar_months_in_utc_and_clamps_to_the_months_last_day(decided, months, expires):
    assert lifetime.expiry(at(decided), months) == at(expires)
    assert lifetime.expiry(at(decided), months).utcoffset() == timedelta(0)


def test_an_expiry_is_over_from_its_very_instant():
    expires = at("2026-03-15T09:30:00+00:00")
    assert not lifetime.has_expired(expires, expires - timedelta(microseconds=1))
    assert lifetime.has_expired(expires, expires)


def test_epoch_milliseconds_are_exact():
    assert lifetime.epoch_ms(at("2026-03-15T09:30:00.123000+00:00")) == 1773567000123


# --- The setting: site YAML, stored, exported, sent to the widget -----------------------------------


@pytest.mark.parametrize("months", [0, 14, -1, 10**30, "12", "twelve", 1.5, 12.0, True, False, None, [12], {}])
def test_a_lifetime_that_is_not_1_to_13_whole_months_is_refused_with_a_sentence(months):
    with pytest.raises(InvalidRequest) as refusal:
        configs.validate_config(load_site_config(consent_lifetime_months=months))
    [message] = refusal.value.errors["consent_lifetime_months"]
    assert "1 to 13" in message


@pytest.mark.parametrize("line", ["consent_lifetime_months: 1" + "0" * 5000, "consent_lifetime_months: .inf",
                                  "consent_lifetime_months: 0x7fffffffffffffffffff", 'consent_lifetime_months: "12"'])
def test_a_hostile_yaml_file_is_refused_by_the_import_command(app, tmp_path, line):
    """Never a traceback: a number too long for Python to read is a sentence too."""
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(load_site_config(), allow_unicode=True) + line + "\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["consent", "site", "import", str(path)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "shop.yaml" in result.output
    with app.app_context():
        assert db.get_session().get(Site, "shop").consent_lifetime_months == 12


@pytest.mark.parametrize("months", [1, 6, 13])
def test_the_lifetime_is_stored_exported_and_sent_to_the_widget(app, client, months):
    assert client.get("/api/v1/sites/shop/config?lang=en").get_json()["lifetime_months"] == 12  # now cached
    import_site(app, load_site_config(consent_lifetime_months=months))
    with app.app_context():
        exported = configs.export_site(db.get_session(), "shop")
    assert exported["consent_lifetime_months"] == months
    import_site(app, exported)
    with app.app_context():
        assert configs.export_site(db.get_session(), "shop") == exported
    assert client.get("/api/v1/sites/shop/config?lang=en").get_json()["lifetime_months"] == months


def test_the_default_lifetime_is_twelve_and_left_out_of_exports(app, client):
    with app.app_context():
        assert "consent_lifetime_months" not in configs.export_site(db.get_session(), "shop")
        assert db.get_session().get(Site, "shop").consent_lifetime_months == 12
    assert client.get("/api/v1/sites/shop/config").get_json()["lifetime_months"] == 12


# --- Recording: the answer, the receipt and the log state the expiry -------------------------------


def test_a_decision_states_its_expiry_in_its_answer_receipt_and_event(app, consent):
    answer = consent.post(**consent.user("alice"), choices=SMS, idempotency_key="expiry-key-0001").get_json()
    receipt = answer["receipt"]
    expires = lifetime.expiry(at(receipt["decidedAt"]), 12)
    assert at(receipt["expiresAt"]) == at(answer["expires_at"]) == expires
    assert answer["expires_at_ms"] == lifetime.epoch_ms(expires)
    assert all("expiresAt" in purpose["termination"] for purpose in receipt["services"][0]["purposes"]
               if purpose["consentType"] == "EXPLICIT")  # the others are no consent: they do not expire
    [event] = consent.stored_events()
    assert lifetime.event_expiry(event) == expires and json.loads(event.document)["expires_at"] == receipt["expiresAt"]
    again = consent.post(**consent.user("alice"), choices=SMS, idempotency_key="expiry-key-0001").get_json()
    assert (again["expires_at"], again["expires_at_ms"]) == (answer["expires_at"], answer["expires_at_ms"])
    with app.app_context():
        assert verify_chain(db.get_session(), "shop").intact


def test_new_and_old_receipts_both_verify_offline(app, client, consent):
    from tests.audit_support import bulk_events

    consent.post(choices=SMS)
    bulk_events(app, "shop", 1, start=datetime.now(UTC))  # a receipt of before lifetimes: no expiresAt
    jwks = client.get("/.well-known/jwks.json").get_json()
    with app.app_context():
        signed = db.get_session().execute(
            select(Receipt.document, ReceiptSignature.jws).join(ReceiptSignature)).all()
    kinds = set()
    for document, jws in signed:
        payload, _kid = verify_receipt({"receipt": json.loads(document), "jws": jws}, jwks)
        kinds.add("expiresAt" in payload)
    assert kinds == {True, False}


def test_an_edited_expiry_breaks_the_chain(app, consent):
    """Someone with database access lengthens a decision's life: `log verify` says where, whether the
    event's hash was recomputed or not (the signed receipt still states the true expiry)."""
    from tests.audit_support import drop_append_only_triggers

    stated = consent.post(choices=SMS).get_json()["receipt"]["expiresAt"]
    [event] = consent.stored_events()
    longer = event.document.replace(stated, "2099-01-01T00:00:00+00:00")
    drop_append_only_triggers(app)
    with app.app_context():
        for changes in ({"document": longer}, {"document": longer, "event_hash": text_hash(longer)}):
            with db.write_transaction() as session:
                session.execute(update(ConsentEvent).values(**changes))
            report = verify_chain(db.get_session(), "shop")
            assert report.first_broken_seq == 1 and report.column == "consent_events.document", report


def test_the_lifetime_at_decision_time_applies_whatever_the_setting_becomes(app, client, consent, shop_key, clock):
    consent.post(**consent.user("alice"), choices=SMS)
    import_site(app, load_site_config(consent_lifetime_months=1))
    clock.shift(days=200)
    assert allowed(client, shop_key, "alice") == ["alice"]


# --- Expired means no decision ---------------------------------------------------------------------


def state(client, key, subject):
    return client.get(f"/api/v1/sites/shop/subjects/{subject}/consents", headers=bearer(key)).get_json()


def allowed(client, key, *subjects):
    return client.post("/api/v1/sites/shop/consents/query", json={"subjects": list(subjects),
                                                                  "purpose": "marketing_sms"},
                       headers=bearer(key)).get_json()["allowed"]


def subject_decision(app, client, subject_id, now):
    token = subject_token(app, subject_id, now=now.timestamp())
    return client.post("/api/v1/sites/shop/subject-decision", json={"subject_id": subject_id, "subject_token": token},
                       headers={"Origin": SHOP_ORIGIN}).get_json()


@pytest.fixture
def granted(consent):
    """alice's verified grant of marketing SMS, and when it expires."""
    answer = consent.post(**consent.user("alice"), choices=SMS).get_json()
    return answer, at(answer["expires_at"])


def test_a_day_before_its_expiry_a_decision_still_grants(app, client, shop_key, clock, granted):
    answer, expires = granted
    clock.set(expires - timedelta(days=1))  # 12 months less a day after the decision
    body = state(client, shop_key, "alice")
    assert body["has_record"] is True and body["expired_at"] is None and at(body["expires_at"]) == expires
    sms = body["purposes"]["marketing_sms"]
    assert sms["granted"] is True and sms["receipt_id"] == answer["receipt_id"] and at(sms["expires_at"]) == expires
    assert allowed(client, shop_key, "alice") == ["alice"]
    restored = subject_decision(app, client, "alice", clock.now())["decision"]
    assert restored["receipt_id"] == answer["receipt_id"]
    assert (restored["expires_at"], restored["expires_at_ms"]) == (answer["expires_at"], answer["expires_at_ms"])


@pytest.mark.parametrize("after", [timedelta(0), timedelta(days=1), timedelta(days=400)])
def test_from_its_expiry_on_a_decision_answers_as_none(app, client, shop_key, clock, granted, after):
    _answer, expires = granted
    clock.set(expires + after)  # at the very instant, 12 months and a day after, and long after
    body, nobody = state(client, shop_key, "alice"), state(client, shop_key, "nobody")
    # Exactly the answer for a user who never decided, but for saying when the decision expired.
    expired = expires.isoformat()
    assert body == {**nobody, "subject_id": "alice", "expired_at": expired,
                    "purposes": {purpose_id: {**answer, "expired_at": expired}
                                 for purpose_id, answer in nobody["purposes"].items()}}
    assert body["purposes"]["marketing_sms"] == {**NO_RECORD, "expired_at": expired}
    query = client.post("/api/v1/sites/shop/consents/query", json={"subjects": ["alice"], "purpose": "marketing_sms"},
                        headers=bearer(shop_key)).get_json()
    assert query["allowed"] == [] and query["results"][0]["granted"] is False
    assert subject_decision(app, client, "alice", clock.now()) == {"decision": None}


def test_a_new_decision_after_expiry_counts_again(app, client, consent, shop_key, clock, granted):
    clock.set(granted[1] + timedelta(days=3))
    consent.post(subject_id="alice", subject_token=subject_token(app, "alice", now=clock.now().timestamp()),
                 choices=SMS)
    assert allowed(client, shop_key, "alice") == ["alice"]


def test_a_site_with_a_one_month_lifetime(app, client, consent, shop_key, clock):
    import_site(app, load_site_config(consent_lifetime_months=1))
    clock.set(datetime(2025, 1, 31, 10, 0, tzinfo=UTC))
    token = subject_token(app, "alice", now=clock.now().timestamp())
    answer = consent.post(subject_id="alice", subject_token=token, choices=SMS).get_json()
    assert at(answer["expires_at"]) == datetime(2025, 2, 28, 10, 0, tzinfo=UTC)  # Jan 31 + 1 month
    clock.set(datetime(2025, 2, 28, 9, 59, tzinfo=UTC))
    assert allowed(client, shop_key, "alice") == ["alice"]
    clock.set(datetime(2025, 2, 28, 10, 0, tzinfo=UTC))
    assert allowed(client, shop_key, "alice") == []


def test_decisions_stored_before_lifetimes_last_twelve_months(app, client, shop_key, clock):
    from tests.test_verified_subjects import legacy_binding  # an event of before 0015, bound to a user

    legacy_binding(app, "old-user")
    [event] = [event for event in _events(app) if event.subject_ref]
    assert "expires_at" not in json.loads(event.document)
    expected = lifetime.expiry(event.created_at, 12)
    assert at(state(client, shop_key, "old-user")["expires_at"]) == expected
    clock.set(expected)
    body = state(client, shop_key, "old-user")
    assert body["has_record"] is False and at(body["expired_at"]) == expected


def _events(app):
    with app.app_context():
        return db.get_session().scalars(select(ConsentEvent)).all()


def test_a_grant_that_has_expired_before_it_arrives_is_refused(app, consent, clock):
    """Decided 29 days ago by the visitor's clock (within the 30 days trusted), with a one-month lifetime
    that ended yesterday: the widget is told to ask again; a withdrawal as old is still recorded."""
    import_site(app, load_site_config(consent_lifetime_months=1))
    clock.set(datetime(2025, 3, 1, 10, 0, tzinfo=UTC))
    decided_ms = lifetime.epoch_ms(datetime(2025, 1, 31, 10, 0, tzinfo=UTC))
    refused = consent.post(choices=SMS, decided_at=decided_ms)
    assert refused.status_code == 422 and refused.get_json()["type"].endswith("/problems/decision-too-old")
    assert refused.get_json()["action"] == "ask_again"
    withdrawal = consent.post(choices={"necessary": True}, decided_at=decided_ms)
    assert withdrawal.status_code == 201 and len(consent.stored_events()) == 1


def test_linking_an_expired_anonymous_decision_is_refused(app, consent, clock):
    anonymous = consent.post(visitor_secret="visitor-credential-0123456789", choices=SMS).get_json()
    clock.set(at(anonymous["expires_at"]) + timedelta(minutes=1))
    token = subject_token(app, "alice", now=clock.now().timestamp())
    linked = consent.post(subject_id="alice", subject_token=token, visitor_secret="visitor-credential-0123456789",
                          choices=SMS, collection_method="link", links_receipt_id=anonymous["receipt_id"])
    assert linked.status_code == 422 and linked.get_json()["action"] == "ask_again"


# --- What visitors see -----------------------------------------------------------------------------


def test_the_receipt_page_says_until_when_and_once_expired(client, consent, clock):
    answer = consent.post(choices=SMS).get_json()
    page = f"/receipts/{answer['receipt_id']}?token={answer['receipt_token']}"
    expires = at(answer["expires_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    english = client.get(page + "&lang=en").get_data(as_text=True)
    assert "Valid until" in english and expires in english and "Expired" not in english
    assert "有效期至" in client.get(page + "&lang=zh-CN").get_data(as_text=True)
    clock.set(at(answer["expires_at"]) + timedelta(days=1))
    # A year on, the token the decision gave has expired too: the visitor's history hands out a fresh one.
    assert client.get(page + "&lang=en").status_code == 403
    with consent.app.app_context():
        page = f"/receipts/{answer['receipt_id']}?token={receipts.access_token(answer['receipt_id'])}"
    assert "Expired: the site asks you again." in client.get(page + "&lang=en").get_data(as_text=True)
    assert "已过期" in client.get(page + "&lang=zh-CN").get_data(as_text=True)


def test_the_history_marks_expired_decisions(client, consent, clock):
    answer = consent.post(visitor_secret="visitor-credential-0123456789", choices=SMS).get_json()
    clock.set(at(answer["expires_at"]) + timedelta(days=1))
    link = client.post("/api/v1/sites/shop/history-link", json={"visitor_secret": "visitor-credential-0123456789"},
                       headers={"Origin": SHOP_ORIGIN}).get_json()["history_url"]
    html = client.get(link.removeprefix("http://localhost") + "&lang=en").get_data(as_text=True)
    assert "Valid until" in html and "(expired)" in html
