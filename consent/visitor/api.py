"""Public JSON API, called by the widget from the host page's origin: /api/v1/..."""
import json

from flask import Blueprint, current_app, g, jsonify, request

from consent import openapi
from consent.errors import InvalidRequest, NotFound, OriginNotAllowed, problem_types
from consent.http import limits, request_log
from consent.http.api_requests import json_body
from consent.http.compression import compressed_response, etag_of, revalidated_response
from consent.http.links import public_url
from consent.i18n import normalize_language, preferred_language
from consent.ledger import receipts
from consent.ledger.decisions import origin_is_allowed, record_consent
from consent.schemas import ConsentRequestSchema, FunnelMarkSchema, VisitorProofSchema, load
from consent.sites import consent_mode
from consent.sites.configs import current_policy, get_site
from consent.sites.widget_config import VIEWS, served_config
from consent.storage.db import get_session
from consent.visitor import funnel, own_data, widget_script

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PREFLIGHT_MAX_AGE = 600
CORS_HEADERS = (("Access-Control-Allow-Headers", "Content-Type"),
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE)))
CONSENT_REQUEST = ConsentRequestSchema()  # schemas keep no state between loads: build once
VISITOR_PROOF = VisitorProofSchema()
FUNNEL_MARK = FunnelMarkSchema()
ANSWER_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one encoder, not one per answer


@bp.before_request
def limit_body_size():
    # Before anything reads the body (the per-site rate limit does): every API body is small JSON.
    request.max_content_length = current_app.config["CONSENT_MAX_BODY_BYTES"]


@bp.after_request
def allow_embedding_origins(response):
    """CORS: answer readable responses only to origins some site allows to embed the widget."""
    origin = request.headers.get("Origin")
    added = []
    # A decision just recorded has proved its origin already: no need to ask the database again.
    if origin and (g.get("origin_proved") == origin or origin_is_allowed(get_session(), origin)):
        added += [("Access-Control-Allow-Origin", origin), *CORS_HEADERS]
    if "Vary" in response.headers:  # the widget script's, which varies by language too
        response.vary.add("Origin")
    else:  # the one Vary, without parsing and writing back a set of one (response.vary)
        added.append(("Vary", "Origin"))
    # Added, not set: no view of this blueprint sets them, and setting scans the headers for each.
    response.headers.extend(added)
    return response


@bp.route("/consents", methods=["OPTIONS"])
@bp.route("/sites/<site_id>/history-link", methods=["OPTIONS"])
@bp.route("/sites/<site_id>/subject-decision", methods=["OPTIONS"])
def consents_preflight(site_id=None):
    # The site is named in the body, which a preflight does not carry: any embedding origin may
    # ask, and the POST itself is checked against the named site's own origins.
    if not origin_is_allowed(get_session(), request.headers.get("Origin")):
        raise OriginNotAllowed("This origin embeds no site of this service.")
    return "", 204


@bp.post("/consents")
@limits.decision_writes
def create_consent():
    data = load(CONSENT_REQUEST, json_body())
    result, created = record_consent(
        data,
        origin=request.headers.get("Origin"),
        client_ip=request.remote_addr,
        header_signals={"dnt": request.headers.get("DNT") == "1", "gpc": request.headers.get("Sec-GPC") == "1"},
    )
    g.origin_proved = request.headers.get("Origin")
    result["receipt_url"] = receipts.receipt_url(result["receipt_id"], result["receipt_token"])
    return decision_response(result, 201 if created else 200)


def decision_response(answer, status):
    """`answer` (decisions.DecisionAnswer) as JSON, its receipt as the very text stored and signed: encoding the
    receipt again cost as much as signing it (issue 18). The same JSON value as jsonify's, keys in another order."""
    rest = ANSWER_JSON.encode({key: value for key, value in answer.items() if key != "receipt"})
    body = f'{rest[:-1]},"receipt":{answer.receipt_text}}}'
    return current_app.response_class(body, status=status, mimetype="application/json")


@bp.post("/sites/<site_id>/funnel")
@request_log.anonymous
@limits.mark_writes
def funnel_mark(site_id):
    """One anonymous banner mark: shown, or the decision made from it (README, "Banner statistics")."""
    request.max_content_length = funnel.MAX_MARK_BYTES  # before anything reads the body
    mark = load(FUNNEL_MARK, json_body(any_type=True))
    funnel.record_mark(site_id, request.headers.get("Origin"), mark)
    g.origin_proved = request.headers.get("Origin")
    return "", 204


@bp.post("/sites/<site_id>/history-link")
@limits.client_writes
def history_link(site_id):
    """A short-lived link to the visitor's own history, for their credential or their user's subject token."""
    proof = load(VISITOR_PROOF, json_body())
    return jsonify(own_data.history_link(site_id, proof, request.headers.get("Origin")))


@bp.post("/sites/<site_id>/subject-decision")
def subject_decision(site_id):
    """A proven user's decision in force, so a new device applies it instead of asking again."""
    proof = load(VISITOR_PROOF, json_body())
    return jsonify(own_data.subject_decision(site_id, proof, request.headers.get("Origin")))


@bp.get("/sites/<site_id>/config")
def site_config(site_id):
    """Everything the widget needs to render a site's banner in one language."""
    view = request.args.get("view", "full")
    if view not in VIEWS:
        raise InvalidRequest(f"view must be one of {', '.join(VIEWS)}.")
    bodies, etag = served_config(get_session(), site_id, normalize_language(request.args.get("lang")), view)
    # Revalidated every time (a 304 without a body when unchanged): a new policy version is seen at once.
    return compressed_response(bodies, etag, "application/json")


@bp.get("/sites/<site_id>/consent.js")
def site_script(site_id):
    """The widget with the site's config inside, in the language asked for (?lang=, else the browser's,
    else the site's): the banner needs this one request."""
    language = normalize_language(request.args.get("lang")) or preferred_language()
    bodies, etag = served_config(get_session(), site_id, language, "banner")
    built = widget_script.site_script(bodies["identity"], etag)
    # Revalidated every time, as the config is: a new policy version is seen at the next page load.
    response = compressed_response(built.bodies, built.etag, "text/javascript")
    response.vary.add("Accept-Language")
    return response


@bp.get("/sites/<site_id>/consent-mode.js")
def consent_mode_script(site_id):
    """Google Consent Mode v2 for the site: load it without `async`, before the Google tag."""
    session = get_session()
    site = get_site(session, site_id)
    text = consent_mode.script(site, current_policy(session, site).purposes).encode()
    # Revalidated every time: a new mapping or policy is seen at the next page load.
    return revalidated_response(text, etag_of(text), "text/javascript")


@bp.get("/receipts/<receipt_id>")
def get_receipt(receipt_id):
    """A visitor's own receipt, opened with the token they were given when they decided."""
    return jsonify(receipts.open_receipt(get_session(), receipt_id, request.args.get("token")))


@bp.get("/problems/<slug>")
def problem_type(slug):
    """What one problem type means and what a client should do: the `type` of our problem+json answers."""
    known = problem_types()
    if slug not in known:
        raise NotFound(f"No problem type {slug!r}.")
    title, action, description = known[slug]
    return jsonify({"type": public_url("api.problem_type", slug=slug), "title": title, "action": action,
                    "description": description})


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of every /api/v1 endpoint."""
    return jsonify(openapi.document())
