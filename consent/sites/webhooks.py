"""Webhooks: tell a site's backend about every consent change with a signed POST, retried with backoff.

Two kinds of message, told apart by `type`: "consent.decision", one per decision, and "checkpoint",
each signed checkpoint of the site's log, for the site to keep as its own outside copy.
Recording a consent (or signing a checkpoint) only adds a pending delivery row in the same
transaction; the POST happens later, from `deliver_due` (run by `flask consent webhooks deliver`),
so a slow or broken receiver never delays a visitor. Delivery is at least once: receivers
deduplicate decisions by `event_id`, checkpoints by `jws`.
Where a webhook may point is checked in `consent.sites.webhook_targets`, at registration and at each delivery.
"""
import hashlib
import hmac
import http.client
import json
import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from consent.errors import InvalidRequest, NotFound
from consent.ledger import lifetime
from consent.proof.verify import b64url_decode
from consent.sites import webhook_targets
from consent.storage.db import get_session, write_transaction
from consent.storage.models import Checkpoint, ConsentEvent, Subject
from consent.storage.operations import SiteWebhook, WebhookAttempt, WebhookDelivery

SIGNATURE_HEADER = "X-Consent-Signature"
TIMESTAMP_HEADER = "X-Consent-Timestamp"


def configure(session, site_id, webhook):
    """Set or remove a site's webhook; a URL given without a secret keeps the old secret or gets a new one."""
    current = session.get(SiteWebhook, site_id)
    if webhook is None:
        if current is not None:
            session.delete(current)
        return None
    try:
        webhook_targets.check_registration(webhook["url"], allow_private_targets())
    except webhook_targets.TargetRefused as refusal:
        raise InvalidRequest(f"Refused webhook URL: {refusal}", {"webhook": {"url": [str(refusal)]}}) from None
    if current is None:
        current = SiteWebhook(site_id=site_id, secret=webhook.get("secret") or new_secret())
        session.add(current)
    current.url = webhook["url"]
    if webhook.get("secret"):
        current.secret = webhook["secret"]
    return current


def rotate_secret(session, site_id):
    """Give a site's webhook a new secret (after a leak); NotFound if it has no webhook."""
    webhook = session.get(SiteWebhook, site_id)
    if webhook is None:
        raise NotFound(f"Site {site_id!r} has no webhook.")
    webhook.secret = new_secret()
    return webhook


def new_secret():
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret, timestamp, body):
    """HMAC-SHA256 over "<timestamp>.<body>", so a captured POST cannot be replayed with another time."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def payload(session, event):
    """What the receiver learns: the decision, its receipt, and the site's own user id while it is known.

    The user id is given only for a binding a subject token proved: anything else is the browser's
    word, and a backend acting on it would act for whoever typed the id.
    """
    document = json.loads(event.document)
    subject_id = None
    if event.subject_ref and event.subject_verified:
        subject_id = session.scalars(
            select(Subject.subject_id).where(Subject.site_id == event.site_id, Subject.pseudonym == event.subject_ref)
        ).first()
    return {
        "type": "consent.decision",
        "event_id": event.event_id,
        "site_id": event.site_id,
        "subject": subject_id,
        "subject_verified": subject_id is not None,
        "choices": document["choices"],
        # How it was made ("guardian": the site's backend, for a minor), and a minor's, awaiting a guardian.
        "collection_method": document["collection_method"],
        "guardian_consent": document.get("guardian_consent"),
        "receipt_id": document["receipt_id"],
        "time": document["recorded_at"],
        # When the decision stops counting: from then on, treat the user as undecided.
        "expires_at": lifetime.event_expiry(event).isoformat(),
    }


def checkpoint_message(checkpoint):
    """A signed checkpoint for the site to keep, as published everywhere else (README, "For auditors"):
    the fields its JWS signed, read from the JWS itself, with the key id and the JWS."""
    signed = json.loads(b64url_decode(checkpoint.jws.split(".")[1]))
    return {"type": "checkpoint", **signed, "kid": checkpoint.kid, "jws": checkpoint.jws}


def message(session, event, checkpoint):
    """The body of a delivery: its decision's or its checkpoint's."""
    return checkpoint_message(checkpoint) if checkpoint is not None else payload(session, event)


def allow_private_targets():
    """True only where CONSENT_WEBHOOK_ALLOW_PRIVATE says so (development, tests): http and private addresses."""
    return bool(current_app.config["CONSENT_WEBHOOK_ALLOW_PRIVATE"])


def backoff(attempts):
    """Seconds to wait after the `attempts`-th failure: base, 2×base, 4×base, ..."""
    return current_app.config["WEBHOOK_BACKOFF_SECONDS"] * 2 ** (attempts - 1)


def deliver_due(now=None, limit=100):
    """Try every delivery that is due at `now`; returns how many were delivered.

    The POSTs happen outside any write transaction, so consents keep being recorded meanwhile.
    """
    now = now or datetime.now(UTC)
    session = get_session()
    due = session.execute(
        select(WebhookDelivery.id, SiteWebhook.url, SiteWebhook.secret, ConsentEvent, Checkpoint)
        .join(SiteWebhook, SiteWebhook.site_id == WebhookDelivery.site_id)
        .outerjoin(ConsentEvent, ConsentEvent.event_id == WebhookDelivery.event_id)
        .outerjoin(Checkpoint, Checkpoint.id == WebhookDelivery.checkpoint_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
               or_(ConsentEvent.event_id.is_not(None), Checkpoint.id.is_not(None)))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    ).all()
    bodies = [(delivery_id, url, secret, message(session, event, checkpoint))
              for delivery_id, url, secret, event, checkpoint in due]
    session.rollback()  # end the read transaction before going out on the network
    delivered = 0
    for delivery_id, url, secret, body in bodies:
        delivered += _attempt(delivery_id, url, secret, body, now)
    return delivered


def _attempt(delivery_id, url, secret, body, now):
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "consent-service-webhooks",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: f"sha256={signature(secret, timestamp, raw)}",
    }
    status_code, error, refused = None, None, False
    try:
        status_code = webhook_targets.post(
            url, raw, headers, current_app.config["WEBHOOK_TIMEOUT_SECONDS"], allow_private_targets()
        )
    except webhook_targets.TargetRefused as refusal:  # nothing was sent; retrying would not change that
        error, refused = f"Not sent: {refusal}"[:500], True
    except (OSError, ValueError, http.client.HTTPException) as failure:
        # connection refused, timeout, no such name, garbled
        error = str(failure)[:500] or type(failure).__name__
    ok = status_code is not None and 200 <= status_code < 300
    with write_transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        delivery.attempts += 1
        delivery.log.append(WebhookAttempt(attempted_at=now, status_code=status_code, error=error))
        if ok:
            delivery.status = "delivered"
        elif refused or delivery.attempts >= current_app.config["WEBHOOK_MAX_ATTEMPTS"]:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts))
    return int(ok)


def recent_deliveries(session, site_id, limit=50):
    """The delivery log of a site, newest first, for the admin console."""
    return session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.site_id == site_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()
