"""What anyone needs to check our proof without trusting us: public keys, the receipt schema, checkpoints.

Public, unauthenticated, readable from any origin: a regulator's script or a visitor's lawyer can
download the key set once, pin a checkpoint (or mirror them all), and verify receipts offline with
consent/proof/verify.py.
"""
from flask import Blueprint, jsonify, request, url_for

from consent.errors import NotFound
from consent.http.links import public_url
from consent.ledger import checkpoints, signing
from consent.proof import RECEIPT_SCHEMA
from consent.schemas import CheckpointPageSchema, load
from consent.sites.configs import get_site
from consent.storage.db import get_session

bp = Blueprint("verification", __name__)


@bp.after_request
def readable_from_anywhere(response):
    # Nothing here is personal or secret, and no credentials are involved.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/jwks.json")
def jwks():
    """Every Ed25519 public key that ever signed a receipt or checkpoint (RFC 7517 key set)."""
    response = jsonify(signing.jwks(get_session()))
    response.mimetype = "application/jwk-set+json"
    response.cache_control.public, response.cache_control.max_age = True, 300
    return response


@bp.get("/api/v1/schemas/receipt.json")
def receipt_schema():
    """The JSON Schema (draft 2020-12) every receipt validates against."""
    response = jsonify({"$id": public_url("verification.receipt_schema"), **RECEIPT_SCHEMA})
    response.mimetype = "application/schema+json"
    return response


@bp.get("/api/v1/sites/<site_id>/checkpoints/latest")
def latest_checkpoint(site_id):
    """The newest signed tree head of a site's log, for anyone to pin."""
    session = get_session()
    get_site(session, site_id)
    checkpoint = checkpoints.latest_checkpoint(session, site_id)
    if checkpoint is None:
        raise NotFound(f"Site {site_id!r} has no checkpoint yet.")
    return jsonify(checkpoints.checkpoint_json(checkpoint))


@bp.get("/api/v1/sites/<site_id>/checkpoints")
def checkpoint_list(site_id):
    """Every signed checkpoint of a site, oldest first, paged by `after` (a count): for anyone to mirror."""
    page_query = load(CheckpointPageSchema(), request.args.to_dict())
    session = get_session()
    get_site(session, site_id)
    page, next_after = checkpoints.checkpoints_after(session, site_id, page_query["after"], page_query["limit"])
    next_url = None
    if next_after is not None:
        next_url = url_for("verification.checkpoint_list", site_id=site_id, limit=page_query["limit"], after=next_after)
    return jsonify({"checkpoints": [checkpoints.checkpoint_json(checkpoint) for checkpoint in page],
                    "next_after": next_after, "next": next_url})
