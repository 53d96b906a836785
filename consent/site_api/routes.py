"""API for site backends, authenticated with the site's API key: /api/v1/sites/<site_id>/...

Not for browsers: no CORS headers, and every route needs `Authorization: Bearer <key>`.
"""
from flask import Blueprint, jsonify
from marshmallow import ValidationError

from consent.accounts import api_keys
from consent.errors import InvalidRequest
from consent.http.api_requests import bearer_token, json_body, protect_responses
from consent.schemas import SUBJECT_ID, ConsentQuerySchema, load
from consent.sites.configs import get_site
from consent.storage.db import get_session, write_transaction
from consent.subjects.rights import batch_decisions, erase_subject, subject_consents

bp = Blueprint("backend", __name__, url_prefix="/api/v1/sites/<site_id>")


protect_responses(bp, realm="consent site API")


@bp.url_value_preprocessor
def require_site_key(_endpoint, values):
    api_keys.authorize(get_session(), bearer_token(), values["site_id"])


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
