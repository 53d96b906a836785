"""Webhooks: every change is POSTed signed, retried with backoff after failures, and logged."""
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from consent.sites import webhooks
from consent.storage import db
from consent.storage.operations import WebhookDelivery
from tests.browser.conftest import BackgroundServer
from tests.conftest import bearer, import_site, load_site_config

SECRET = "whsec_test_secret_0123456789"


@pytest.fixture
def app(app):
    """The receivers in this module listen on loopback, over http: allowed for tests only, and said so here."""
    app.config["CONSENT_WEBHOOK_ALLOW_PRIVATE"] = True
    return app


class FlakyReceiver:
    """A site backend that answers the given statuses in turn and keeps what it was sent."""

    def __init__(self, *statuses):
        self.statuses = list(statuses)
        self.received = []

    @Request.application
    def __call__(self, request):
        self.received.append((dict(request.headers), request.get_data()))
        return Response("", status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
def receiver(app):
    receiver = FlakyReceiver(500, 200)
    with BackgroundServer(receiver) as server:
        import_site(app, load_site_config(webhook={"url": server.url + "/hook", "secret": SECRET}))
        yield receiver


def deliveries(app):
    with app.app_context():
        return db.get_session().scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def deliver(app, now):
    with app.app_context():
        return webhooks.deliver_due(now)


def test_change_is_delivered_signed_and_retried_after_failure(app, consent, receiver):
    result = consent.post(**consent.user("alice"), choices={"necessary": True, "marketing_sms": True}).get_json()
    start = datetime.now(UTC) + timedelta(seconds=1)

    assert deliver(app, start) == 0  # the receiver fails the first time
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert deliver(app, start + timedelta(seconds=29)) == 0 and len(receiver.received) == 1  # backing off
    assert deliver(app, start + timedelta(seconds=30)) == 1
    assert deliver(app, start + timedelta(hours=1)) == 0  # delivered once, not again

    [delivery] = deliveries(app)
    assert delivery.status == "delivered" and [a.status_code for a in delivery.log] == [500, 200]
    headers, body = receiver.received[-1]
    timestamp = headers["X-Consent-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Consent-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload == {
        "type": "consent.decision", "event_id": consent.stored_events()[0].event_id, "site_id": "shop",
        "subject": "alice", "subject_verified": True,
        "choices": {"necessary": True, "analytics": False, "advertising": False, "marketing_sms": True,
                    "personalized_recommendation": False, "cross_border_transfer": False},
        "collection_method": "banner", "guardian_consent": None,
        "receipt_id": result["receipt_id"], "time": payload["time"], "expires_at": result["expires_at"],
    }
    assert payload["time"].startswith(start.date().isoformat())


def test_delivery_gives_up_after_the_last_attempt(app, consent):
    receiver = FlakyReceiver(*[503] * 10)
    with BackgroundServer(receiver) as server:
        import_site(app, load_site_config(webhook={"url": server.url + "/hook"}))
        consent.post()
        now = datetime.now(UTC) + timedelta(seconds=1)
        for _attempt in range(app.config["WEBHOOK_MAX_ATTEMPTS"] + 2):
            deliver(app, now)
            now += timedelta(days=1)
    [delivery] = deliveries(app)
    assert delivery.status == "failed" and delivery.attempts == app.config["WEBHOOK_MAX_ATTEMPTS"]
    assert len(receiver.received) == app.config["WEBHOOK_MAX_ATTEMPTS"]


def test_unreachable_receiver_is_logged_and_never_blocks_consent(app, consent):
    import_site(app, load_site_config(webhook={"url": "http://127.0.0.1:9/hook"}))
    assert consent.post().status_code == 201
    assert deliver(app, datetime.now(UTC) + timedelta(seconds=1)) == 0
    [delivery] = deliveries(app)
    assert delivery.status == "pending" and delivery.log[0].status_code is None and delivery.log[0].error


def test_erased_subject_is_not_named_in_later_deliveries(app, client, consent, receiver, shop_key):
    consent.post(**consent.user("alice"))
    assert client.delete("/api/v1/sites/shop/subjects/alice", headers=bearer(shop_key)).status_code == 200
    deliver(app, datetime.now(UTC) + timedelta(seconds=1))
    deliver(app, datetime.now(UTC) + timedelta(minutes=5))
    assert [json.loads(body)["subject"] for _headers, body in receiver.received] == [None, None]


def test_sites_without_webhook_queue_nothing(app, consent):
    assert consent.post().status_code == 201
    assert deliveries(app) == []
