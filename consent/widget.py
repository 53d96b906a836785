"""Pages for visitors: the demo host page, the policy archive, receipts. The widget itself is static/consent.js."""
from flask import Blueprint, render_template, request, url_for

from consent import receipts
from consent.db import get_session
from consent.errors import NotFound
from consent.i18n import normalize_language, request_language
from consent.models import PolicyVersion

bp = Blueprint("widget", __name__)


@bp.get("/")
def demo_page():
    """A host page embedding the widget exactly as a customer site would, for the demo site."""
    language = normalize_language(request.args.get("lang")) or "zh-CN"
    return render_template("demo.html", language=language, site_id=request.args.get("site", "demo"))


@bp.get("/policies/<site_id>/<version>")
def policy_version(site_id, version):
    """A published policy version, exactly as visitors were shown it; this URL never changes."""
    policy = get_session().get(PolicyVersion, (site_id, version))
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
    return render_template(
        "receipt.html",
        opened=opened,
        language=language,
        purposes=receipts.purposes_for_page(session, opened["receipt"], language),
        json_url=url_for("api.get_receipt", receipt_id=receipt_id, token=token),
    )
