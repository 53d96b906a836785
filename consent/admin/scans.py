"""The console's compliance scans of a site (consent/scanner): queue one, follow them, read each report.

    /admin/sites/<site_id>/scans                  the form, the chart of findings over time, the scans
    /admin/sites/<site_id>/scans/<scan_id>        one scan's report
    /admin/sites/<site_id>/scans/<scan_id>.json   its result document, as stored (consent/scanner/report.py)

The page only queues a scan: a browser visiting pages has no place inside a web request, so the scan
worker (`flask consent scan --worker`) runs it. These views join the console's routes (consent/admin/routes.py),
whose before_request hook already refused (403) an operator any site not theirs.
"""
from datetime import UTC

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from consent.admin import scan_chart
from consent.admin.routes import _field_problems, bp, login_required
from consent.forms import FORM_EXPIRED, ScanForm
from consent.scanner import guard, scans
from consent.scanner.findings import VISITS
from consent.sites import configs
from consent.storage.db import get_session
from consent.storage.models import in_utc
from consent.storage.operations import Scan

CHART_SCANS = 20  # the latest finished scans the chart draws
MAX_SCAN_ID = 2**31 - 1  # the column's range: a larger id is no scan, and would not fit a query
STATUSES = {"queued": _l("Queued"), "running": _l("Running"), "done": _l("Done"), "failed": _l("Failed")}
SEVERITIES = {"high": _l("High"), "medium": _l("Medium"), "low": _l("Low")}
# Each rule of consent/scanner/findings.py: its name, and what it means in one sentence.
RULES = {
    "before_consent": (_l("Before consent"), _l(
        "Set, stored or contacted before the visitor chose anything, though no purpose makes it necessary.")),
    "after_reject": (_l("After Reject all"), _l(
        "Still there, or contacted, after the visitor chose \"Reject all\", though no purpose makes it necessary.")),
    "undeclared": (_l("Undeclared"), _l(
        "A cookie or storage key that no purpose of the current policy version declares.")),
    "outlives_declaration": (_l("Outlives its declaration"), _l(
        "A cookie set to last longer than the lifetime its purpose declares.")),
    "declared_not_seen": (_l("Declared, never met"), _l(
        "A cookie a purpose declares by name that no visit met: a stale declaration, or a page the scan did "
        "not reach.")),
}
VISIT_KINDS = {"before": _l("Before any choice"), "reject": _l("After Reject all"), "accept": _l("After Accept all")}


@bp.context_processor
def scan_labels():
    # The site page shows its latest scan's status too.
    return {"scan_statuses": STATUSES}


@bp.route("/sites/<site_id>/scans", methods=["GET", "POST"])
@login_required
def site_scans(site_id):
    site = configs.get_site(get_session(), site_id)  # 404 for a site that does not exist
    form = ScanForm()
    problems, status = [], 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                scans.queue(site_id, form.urls.data.splitlines(), form.pages.data, form.follow_links.data,
                            requested_by=g.admin.username)
                return redirect(url_for(".site_scans", site_id=site_id, queued=1), code=303)
            except guard.ScanRefused as refusal:  # off the site's origins, too many pages, or one already queued
                problems = [refusal.message(gettext)]
        elif "csrf_token" in form.errors:
            abort(400, description=str(FORM_EXPIRED))
        else:
            problems = _field_problems(form)
        status = 422
    history = scans.history(get_session(), site_id)
    finished = [scan for scan in history if scan.status == "done"][:CHART_SCANS][::-1]  # oldest first
    chart = scan_chart.chart([(in_utc(scan.finished_at).astimezone(UTC).strftime("%m-%d"), _counts(scan))
                              for scan in finished],
                             {severity: str(label) for severity, label in SEVERITIES.items()})
    return render_template("admin/scans.html", site=site, form=form, problems=problems, history=history,
                           finished=finished, chart=chart, duration=_duration,
                           max_pages=current_app.config["CONSENT_SCAN_MAX_PAGES"]), status


@bp.get("/sites/<site_id>/scans/<int:scan_id>")
@login_required
def scan_report(site_id, scan_id):
    scan = _scan_of(site_id, scan_id)
    return render_template("admin/scan.html", site=configs.get_site(get_session(), site_id), scan=scan,
                           result=scan.result, severities=SEVERITIES, rules=RULES,
                           visit_kinds=VISIT_KINDS, observed=_observed_by_kind(scan.result), duration=_duration)


@bp.get("/sites/<site_id>/scans/<int:scan_id>.json")
@login_required
def scan_json(site_id, scan_id):
    """The result document as stored, to download (a scan that has not finished has none: 404)."""
    scan = _scan_of(site_id, scan_id)
    if scan.result is None:
        abort(404)
    response = current_app.json.response(scan.result)
    response.headers["Content-Disposition"] = f'attachment; filename="scan-{scan.id}.json"'
    return response


def _scan_of(site_id, scan_id):
    """The scan `scan_id` of this site; 404 for one of another site, so no site's scan shows under another's URL."""
    scan = get_session().get(Scan, scan_id) if 0 < scan_id <= MAX_SCAN_ID else None
    if scan is None or scan.site_id != site_id:
        abort(404)
    return scan


def _counts(scan):
    return {severity: getattr(scan, severity) or 0 for severity in SEVERITIES}


def _observed_by_kind(result):
    """What the visitors met, by kind of visit in the scanner's order, each thing with its page:
    [(kind, {"cookies": [(page, cookie), ...], "storage": [...], "requests": [...]}), ...]."""
    visits = (result or {}).get("visits", [])
    return [(kind, {what: [(visit["page"], thing) for visit in visits if visit["kind"] == kind
                           for thing in visit[what]] for what in ("cookies", "storage", "requests")})
            for kind in VISITS]


def _duration(scan):
    """How long a finished scan took, as the page shows it; None while it has not finished."""
    seconds = scans.duration(scan)
    if seconds is None:
        return None
    minutes, seconds = divmod(round(seconds), 60)
    if minutes:
        return gettext("%(minutes)s min %(seconds)s s", minutes=minutes, seconds=seconds)
    return gettext("%(seconds)s s", seconds=seconds)
