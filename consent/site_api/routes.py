"""API for site backends, authenticated with the site's API key: /api/v1/sites/<site_id>/...

Not for browsers: no CORS headers, and every route needs `Authorization: Bearer <key>`.
"""
from flask import Blueprint, current_app, g, jsonify, request, url_for
from marshmallow import ValidationError

from consent.accounts import api_keys
from consent.errors import InvalidRequest
from consent.http.api_requests import bearer_token, json_body, protect_responses
from consent.ledger import receipts
from consent.schemas import (
    SUBJECT_ID,
    ConsentQuerySchema,
    GuardianDecisionSchema,
    GuardianPendingQuerySchema,
    load,
)
from consent.sites.configs import get_site
from consent.storage.db import get_session, write_transaction
from consent.subjects.guardians import pending_guardians, record_guardian_decision
from consent.subjects.rights import batch_decisions, erase_subject, subject_consents

bp = Blueprint("backend", __name__, url_prefix="/api/v1/sites/<site_id>")


protect_responses(bp, realm="consent site API")


@bp.url_value_preprocessor
def require_site_key(_endpoint, values):
    g.api_key = api_keys.authorize(get_session(), bearer_token(), values["site_id"])


def checked_subject_id(subject_id):
    try:
        SUBJECT_ID(subject_id)
    except ValidationError as error:
        raise InvalidRequest("The subject id must be 1-128 printable characters.",
                             {"subject_id": ["Invalid."]}) from error
    return subject_id


@bp.get("/subjects/<subject_id>/consents")
def subject_state(site_id, subject_id):
    """The current decision on every purpose for one of the site's users, with the receipt proving it."""
    session = get_session()
    return jsonify(subject_consents(session, get_site(session, site_id), checked_subject_id(subject_id)))


@bp.post("/consents/query")
def query_consents(site_id):
    """For a list of the site's users (e.g. an SMS campaign), which ones granted a purpose."""
    data = load(ConsentQuerySchema(), json_body())
    session = get_session()
    return jsonify(batch_decisions(session, get_site(session, site_id), data["subjects"], data["purpose"]))


@bp.delete("/subjects/<subject_id>")
def delete_subject(site_id, subject_id):
    """Erase one of the site's users: their events stay as proof, unlinked from their id."""
    subject_id = checked_subject_id(subject_id)
    with write_transaction() as session:
        erasure = erase_subject(session, get_site(session, site_id).id, subject_id)
        result = {"site_id": site_id, "erased": erasure.had_record, "requested_at": erasure.requested_at.isoformat()}
    return jsonify(result)


@bp.post("/subjects/<subject_id>/guardian-decision")
def guardian_decision(site_id, subject_id):
    """A guardian's decision for one of the site's minor users; the site asserts the guardian relation."""
    subject_id = checked_subject_id(subject_id)
    # A decision is small JSON, as the widget's are (the site API's batch query takes more).
    request.max_content_length = current_app.config["CONSENT_MAX_BODY_BYTES"]
    body = load(GuardianDecisionSchema(), json_body())
    result, created = record_guardian_decision(site_id, subject_id, body, g.api_key, request.remote_addr)
    result["receipt_url"] = receipts.receipt_url(result["receipt_id"], result["receipt_token"])
    return jsonify(result), 201 if created else 200


@bp.get("/guardian-pending")
def guardian_pending(site_id):
    """The site's users whose latest decision is a minor's own, still waiting for a guardian; paged."""
    page_query = load(GuardianPendingQuerySchema(), request.args.to_dict())
    session = get_session()
    site = get_site(session, site_id)
    entries, next_after = pending_guardians(session, site.id, page_query["after"], page_query["limit"])
    next_url = None
    if next_after is not None:
        next_url = url_for("backend.guardian_pending", site_id=site.id, limit=page_query["limit"], after=next_after)
    return jsonify({"site_id": site.id, "age_threshold": site.age_threshold, "subjects": entries,
                    "next_after": next_after, "next": next_url})
