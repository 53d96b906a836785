"""Pages for visitors: the demo host page, the policy archive, receipts, their own history.

The widget itself is static/consent.js.
"""
from flask import Blueprint, redirect, render_template, request, url_for

from consent import clock
from consent.errors import NotFound
from consent.forms import WithdrawForm
from consent.i18n import normalize_language, request_language
from consent.ledger import lifetime, receipts
from consent.sites.configs import current_policy, get_site
from consent.storage.db import get_session, storable
from consent.storage.models import PolicyVersion
from consent.visitor import own_data

bp = Blueprint("widget", __name__)


@bp.get("/")
def demo_page():
    """A host page embedding the widget exactly as a customer site would, for the demo site."""
    language = normalize_language(request.args.get("lang")) or "zh-CN"
    return render_template("demo.html", language=language, site_id=request.args.get("site", "demo"))


@bp.get("/policies/<site_id>/<version>")
def policy_version(site_id, version):
    """A published policy version, exactly as visitors were shown it; this URL never changes."""
    policy = get_session().get(PolicyVersion, (site_id, version)) if storable(site_id, version) else None
    if policy is None:
        raise NotFound(f"Site {site_id!r} has published no policy version {version!r}.")
    return render_template("policy.html", policy=policy, language=request_language())


@bp.get("/receipts/<receipt_id>")
def receipt_page(receipt_id):
    """A visitor's own receipt as a readable page, opened with the token they got when deciding."""
    session = get_session()
    token = request.args.get("token")
    opened = receipts.open_receipt(session, receipt_id, token)
    language = request_language()
    expires_at = lifetime.receipt_expiry(opened["receipt"])
    return render_template(
        "receipt.html",
        opened=opened,
        language=language,
        expires_at=expires_at,
        expired=lifetime.has_expired(expires_at, clock.now()),
        purposes=receipts.purposes_for_page(session, opened["receipt"], language),
        json_url=url_for("api.get_receipt", receipt_id=receipt_id, token=token),
    )


@bp.route("/me/<site_id>", methods=["GET", "POST"])
def my_data(site_id):
    """The visitor's own decisions on a site, opened with the history link their widget asked for, and
    "withdraw everything". A receipt and its token open that one receipt, never the history."""
    session = get_session()
    access_token = request.args.get("access")
    access = own_data.read_history_link(site_id, access_token)
    site = get_site(session, site_id)
    language = request_language()
    form = WithdrawForm()
    if form.validate_on_submit():
        own_data.withdraw_everything(session, site_id, access, language)
        return redirect(url_for(".my_data", site_id=site_id, access=access_token, lang=language, withdrawn=1), code=303)
    titles = {purpose["id"]: purpose["title"][language] for purpose in current_policy(session, site).purposes}
    return render_template(
        "my_data.html", site=site, language=language, form=form, history=own_data.history(session, site_id, access),
        titles=titles, withdrawn=request.args.get("withdrawn") == "1", access=access_token,
    ), 400 if form.errors else 200
