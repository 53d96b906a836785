"""The auditor API, /api/v1/audit/...: authenticated by `Authorization: Bearer <token>`, scoped to sites.

No cookies are involved, so no CSRF token either: the token must be sent deliberately each time.
"""
from flask import Blueprint, g, jsonify, request, url_for

from consent.accounts import auditors
from consent.audit import queries
from consent.errors import Unauthorized
from consent.http.api_requests import bearer_token, protect_responses
from consent.ledger import checkpoints
from consent.schemas import AuditEventQuerySchema, load
from consent.storage.db import get_session, write_transaction

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1/audit")

protect_responses(bp, realm="consent audit")


@bp.before_request
def authenticate():
    auditor = auditors.by_token(get_session(), bearer_token())
    if auditor is None:
        raise Unauthorized("Send an auditor API token: Authorization: Bearer <token>.")
    g.auditor = auditor


def event_filters(site_id):
    return load(AuditEventQuerySchema(), {**request.args.to_dict(), "site": site_id})


@bp.get("/receipts/<receipt_id>")
def receipt(receipt_id):
    """A receipt with its HMAC and Ed25519 signatures and its chain position verified by the server."""
    return jsonify(queries.receipt_proof(get_session(), g.auditor, receipt_id))


@bp.get("/sites/<site_id>/events")
def events(site_id):
    """Events of a site, filtered by subject, time range and purpose, in chain order lane by lane; paged by `after`
    (the position of the last event seen: consent/ledger/lanes.py)."""
    filters = event_filters(site_id)
    page, next_after = queries.list_events(get_session(), g.auditor, filters)
    next_url = None
    if next_after is not None:
        next_url = url_for("audit_api.events", site_id=site_id, **{**request.args.to_dict(), "after": next_after})
    return jsonify({"events": page, "next_after": next_after, "next": next_url})


@bp.get("/sites/<site_id>/events/export")
def export(site_id):
    """Every matching event as JSON Lines or CSV (`format=`), streamed as it is read."""
    filters = event_filters(site_id)
    return queries.export_download(g.auditor, filters, site_id)


@bp.get("/sites/<site_id>/checkpoints")
def checkpoint_list(site_id):
    """Every signed checkpoint of a site, oldest first."""
    auditors.require_site(g.auditor, site_id)
    stored = checkpoints.site_checkpoints(get_session(), site_id)
    return jsonify({"checkpoints": [checkpoints.checkpoint_json(checkpoint) for checkpoint in stored]})


@bp.post("/sites/<site_id>/checkpoints")
def checkpoint_create(site_id):
    """Verify the site's whole log and sign its current head (or return the latest checkpoint, if unchanged)."""
    auditors.require_site(g.auditor, site_id)
    with write_transaction() as session:
        checkpoint, created = checkpoints.checkpoint_now(session, site_id)
    if created:
        checkpoints.publish_to_file([checkpoint])  # once committed, like every checkpoint signed
    return jsonify(checkpoints.checkpoint_json(checkpoint)), 201 if created else 200
