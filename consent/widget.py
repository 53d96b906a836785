"""Pages for visitors: the demo host page. The widget itself is static/consent.js."""
from flask import Blueprint, render_template, request

from consent.i18n import normalize_language

bp = Blueprint("widget", __name__)


@bp.get("/")
def demo_page():
    """A host page embedding the widget exactly as a customer site would, for the demo site."""
    language = normalize_language(request.args.get("lang")) or "zh-CN"
    return render_template("demo.html", language=language, site_id=request.args.get("site", "demo"))
