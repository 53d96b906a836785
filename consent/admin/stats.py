"""The console's Statistics page for a site (consent/stats): a period of the site's days beside the period before,
as figures, SVG charts with their tables, and CSV.

    /admin/sites/<site_id>/stats?from=YYYY-MM-DD&to=YYYY-MM-DD
    /admin/sites/<site_id>/stats.csv?from=...&to=...

Everything is read from the roll-up's counters, never from the log. Small numbers are suppressed here, in the
page and the CSV alike (consent/stats/figures.py says which).
"""
import csv
import io
from datetime import date, timedelta

from flask import current_app, make_response, render_template, request
from flask_babel import gettext

from consent import clock
from consent.admin import stats_chart
from consent.admin.routes import bp, login_required
from consent.i18n import request_language
from consent.sites import configs, purposes
from consent.stats import figures
from consent.stats.days import day_of, zone_name
from consent.stats.rollup import OUTCOMES
from consent.storage.db import get_session

DEFAULT_DAYS = 30
MOST_DAYS = 366


@bp.get("/sites/<site_id>/stats")
@login_required
def site_stats(site_id):
    site, first, last, problem = _period(site_id)
    now, before = figures.compared(get_session(), site_id, first, last)
    threshold = current_app.config["CONSENT_STATS_MIN_CELL"]
    titles = _purpose_titles(site)
    purpose_rows = [(titles.get(purpose, purpose), now.totals.share(purpose), before.totals.share(purpose))
                    for purpose in _purposes(now, before, titles)]
    return render_template(
        "admin/stats.html", site=site, first=first, last=last, problem=problem, now=now, before=before,
        zone=zone_name(site), threshold=threshold, behind=figures.behind(get_session(), site_id),
        suppressed=lambda count: figures.suppressed(count, threshold), outcomes=OUTCOMES, purpose_rows=purpose_rows,
        day_chart=stats_chart.daily_columns(list(now.days.items())), purpose_chart=stats_chart.share_bars(purpose_rows),
    ), 422 if problem else 200


@bp.get("/sites/<site_id>/stats.csv")
@login_required
def site_stats_csv(site_id):
    site, first, last, problem = _period(site_id)
    if problem:
        return make_response(problem + "\n", 422, {"Content-Type": "text/plain; charset=utf-8"})
    now, before = figures.compared(get_session(), site_id, first, last)
    threshold = current_app.config["CONSENT_STATS_MIN_CELL"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "measure", f"{first}..{last}", f"{before.first}..{before.last}"])
    writer.writerows(csv_rows(now, before, threshold))
    response = make_response(out.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{site_id}-stats-{first}-{last}.csv"'
    return response


def csv_rows(now, before, threshold):
    """(section, key, measure, this period, previous period) rows; small counts as "<threshold", their shares empty."""
    def count(totals, name, small_ones):
        value = totals.counts[name] if totals else 0
        return f"<{threshold}" if small_ones and figures.suppressed(value, threshold) else value

    def share(totals, name, small_ones):
        if totals is None or (small_ones and figures.suppressed(totals.counts[name], threshold)):
            return ""
        value = totals.share(name)
        return "" if value is None else f"{value:.4f}"

    def granted(totals, purpose):
        """A purpose's share in a language or version: not shown where the decisions or the grants are few."""
        if totals is None or any(figures.suppressed(value, threshold)
                                 for value in (totals.counts["decisions"], totals.granted[purpose])):
            return ""
        return f"{totals.share(purpose):.4f}"

    for day, decisions in now.days.items():
        yield "day", day.isoformat(), "decisions", decisions, ""
    for name in ("decisions", *OUTCOMES, "withdrawals", "dnt", "gpc", "under_age"):
        small = name == "under_age"
        yield "total", "", name, count(now.totals, name, small), count(before.totals, name, small)
        if name != "decisions":
            yield "total", "", f"{name} share", share(now.totals, name, small), share(before.totals, name, small)
    for purpose in sorted(set(now.totals.granted) | set(before.totals.granted)):
        yield "purpose", purpose, "granted share", f"{now.totals.share(purpose) or 0:.4f}", \
            f"{before.totals.share(purpose) or 0:.4f}"
    for section, these, those in (("language", now.by_language, before.by_language),
                                  ("policy version", now.by_version, before.by_version)):
        for key in sorted(set(these) | set(those)):
            this, that = these.get(key), those.get(key)
            for name in ("decisions", *OUTCOMES, "under_age"):
                yield section, key, name, count(this, name, True), count(that, name, True)
            for purpose in sorted(set(this.granted if this else ()) | set(that.granted if that else ())):
                yield section, key, f"{purpose} granted share", granted(this, purpose), granted(that, purpose)
    for name, this, previous in (("banner shown", now.funnel.shown, before.funnel.shown),
                                 ("decided from the banner", now.funnel.decisions, before.funnel.decisions),
                                 ("left without deciding", now.funnel.left_without_deciding,
                                  before.funnel.left_without_deciding)):
        yield "banner", "", name, this, previous
    yield "banner", "", "median seconds to decide (bucket)", now.funnel.median_seconds() or "", \
        before.funnel.median_seconds() or ""


def _period(site_id):
    """(site, first day, last day, problem sentence or None) from ?from= and ?to=, the last 30 days by default."""
    site = configs.get_site(get_session(), site_id)
    today = day_of(clock.now(), zone_name(site))
    default = (today - timedelta(days=DEFAULT_DAYS - 1), today)
    try:
        first = date.fromisoformat(request.args["from"]) if request.args.get("from") else default[0]
        last = date.fromisoformat(request.args["to"]) if request.args.get("to") else default[1]
    except ValueError:
        return site, *default, gettext("A day is written YYYY-MM-DD: the last %(days)s days are shown.",
                                       days=DEFAULT_DAYS)
    if not timedelta(0) <= last - first < timedelta(days=MOST_DAYS) or first.year < 2000:
        return site, *default, gettext("A period runs forward, from 2000 on, at most %(most)s days: the last "
                                       "%(days)s days are shown.", most=MOST_DAYS, days=DEFAULT_DAYS)
    return site, first, last, None


def _purpose_titles(site):
    """{purpose id: title in the page's language} of the current policy's consent purposes, in its order."""
    language = request_language()
    return {purpose["id"]: purpose["title"].get(language) or purpose["title"]["en"]
            for purpose in configs.current_policy(get_session(), site).purposes if purposes.is_consent(purpose)}


def _purposes(now, before, titles):
    """Every consent purpose of the current policy, then any other that decisions of either period granted."""
    granted = set(now.totals.granted) | set(before.totals.granted)
    return list(titles) + sorted(granted - set(titles))
