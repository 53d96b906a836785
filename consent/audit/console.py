"""The auditor console, /audit/...: sign in, search a site's log, open a receipt with its proof checked.

Server-rendered, in zh-CN or English (`?lang=` is carried through every link), every form
CSRF-protected. Signed-in auditors see only their own sites, exactly as through the API.
"""
from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from consent.accounts import auditors, sessions
from consent.audit import queries
from consent.errors import InvalidRequest
from consent.forms import FORM_EXPIRED, AuditorLoginForm, LogoutForm, require_token
from consent.http import limits
from consent.i18n import normalize_language, request_language
from consent.ledger.chain import site_lanes
from consent.schemas import AuditEventQuerySchema, load
from consent.storage.db import get_session
from consent.storage.models import Auditor

bp = Blueprint("auditor", __name__, url_prefix="/audit")

ACTION_LABELS = {
    "accept_all": _l("Accepted all"),
    "reject_all": _l("Refused all optional purposes"),
    "custom": _l("Chose purpose by purpose"),
    "pending_guardian": _l("Waiting for a guardian's consent"),
}
SEARCH_FIELDS = ("site", "subject", "subject_ref", "from", "to", "purpose", "granted", "after")


@bp.url_defaults
def keep_language(_endpoint, values):
    """Links and redirects inside the console keep the language the auditor chose."""
    language = normalize_language(request.args.get("lang"))
    if language and "lang" not in values:
        values["lang"] = language


@bp.before_request
def require_sign_in():
    # None once the session ended: signed out, a new password, disabled, or older than allowed.
    g.auditor = sessions.current_user("auditor", lambda auditor_id: auditors.by_id(get_session(), auditor_id))
    if g.auditor is None and request.endpoint != "auditor.login":
        return redirect(url_for("auditor.login", next=request.full_path))
    return None


@bp.context_processor
def console_globals():
    return {"auditor": g.get("auditor"), "logout_form": LogoutForm(), "language": request_language(),
            "action_labels": ACTION_LABELS, "form_expired": FORM_EXPIRED, "in_other_language": in_other_language}


def in_other_language(language):
    """This page's URL in `language`: its own search fields only, so no query parameter can name what
    url_for takes as its own arguments (`endpoint`, `_method`, `_external`, ...)."""
    kept = {key: value for key, value in request.args.items() if key in (*SEARCH_FIELDS, "next")}
    return url_for(request.endpoint, **(request.view_args or {}), **kept, lang=language)


@bp.route("/login", methods=["GET", "POST"])
@limits.sign_in_attempts
def login():
    form = AuditorLoginForm()
    status = 200
    if form.validate_on_submit():
        auditor = auditors.by_password(get_session(), form.email.data, form.password.data)
        if auditor is not None:
            sessions.begin("auditor", auditor)
            return redirect(_safe_next(request.args.get("next")))
        status = 401
    elif form.errors.get("csrf_token"):
        status = 400  # no token, or one not issued to this browser: a cross-site post
    return render_template("audit/login.html", form=form, failed=status == 401, expired=status == 400), status


def _safe_next(target):
    # Only paths inside the console: never an absolute URL another site could plant.
    if target and target.startswith("/audit/") and not target.startswith("//"):
        return target
    return url_for("auditor.search")


@bp.post("/logout")
def logout():
    require_token(LogoutForm)
    sessions.sign_out("auditor", Auditor)  # every session of this auditor ends, copied cookies too
    return redirect(url_for("auditor.login"))


@bp.get("/")
def search():
    """The search form; with a site chosen, its matching events, or one subject's history as a timeline."""
    asked = {key: value for key, value in request.args.items() if key in SEARCH_FIELDS and value}
    results = {"events": [], "next_after": None, "errors": {}, "asked": asked, "lanes": 1}
    if "site" in asked:
        try:
            filters = load(AuditEventQuerySchema(), asked)
            results["events"], results["next_after"] = queries.list_events(get_session(), g.auditor, filters)
            results["lanes"] = len(site_lanes(get_session(), filters["site"]))  # its events name their lane then
        except InvalidRequest as error:
            results["errors"] = error.errors or {"site": [error.detail]}
    timeline = queries.timeline(results["events"]) if asked.get("subject") or asked.get("subject_ref") else None
    export_filters = {key: value for key, value in asked.items() if key not in ("site", "after")}
    return render_template("audit/search.html", timeline=timeline, export_filters=export_filters, **results)


@bp.get("/receipts/<receipt_id>")
def receipt(receipt_id):
    """A receipt with its signatures and chain position verified, and the policy text the visitor was shown."""
    proof = queries.receipt_proof(get_session(), g.auditor, receipt_id)
    policy = queries.policy_shown(get_session(), proof["receipt"])
    lanes = len(site_lanes(get_session(), proof["receipt"]["siteId"]))  # a seq names an event within its lane
    return render_template("audit/receipt.html", proof=proof, policy=policy, lanes=lanes)


@bp.get("/receipts/<receipt_id>/download")
def receipt_download(receipt_id):
    """The receipt with its JWS, as a file for `python -m consent.proof.verify`."""
    response = jsonify(queries.receipt_proof(get_session(), g.auditor, receipt_id))
    response.headers["Content-Disposition"] = f'attachment; filename="receipt-{receipt_id}.json"'
    return response


@bp.get("/sites/<site_id>/export")
def export(site_id):
    """The export buttons: the same streamed JSON Lines or CSV as the API, for the current search."""
    asked = {key: value for key, value in request.args.items() if key in (*SEARCH_FIELDS, "format") and value}
    filters = load(AuditEventQuerySchema(), {**asked, "site": site_id})
    return queries.export_download(g.auditor, filters, site_id)
