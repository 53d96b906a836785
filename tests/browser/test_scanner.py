"""The compliance scanner against local fixture sites (issue 16): three fresh visitors per page, each driving the
real widget, and exactly the findings each fixture deserves.

The fixture site is on 127.0.0.1, a "tracker" on localhost (another host, so another party), the consent
service on 127.0.0.1 too: CONSENT_SCAN_ALLOW_PRIVATE lets the scan reach loopback, and nothing else that is
not public.
"""
import json
import re

import pytest

from consent.scanner import commands, scans
from consent.storage.db import get_session
from consent.storage.operations import Scan
from tests.browser.conftest import SQLITE_ONLY, BackgroundServer, HostSite, host_html
from tests.conftest import import_site, load_site_config
from tests.test_scan_guard import scan_command

pytestmark = SQLITE_ONLY

DAY = 86400


def cookie_script(*cookies):
    """A script setting first-party cookies: (name, max-age seconds or None for a session cookie)."""
    return "".join(f'document.cookie = "{name}=1; path=/{"" if age is None else f"; max-age={age}"}";'
                   for name, age in cookies)


def declared(name, lifetime):
    return {"name": name, "lifetime": {"zh-CN": lifetime, "en": lifetime},
            "description": {"zh-CN": "测试", "en": "A test cookie"}}


def site_config(site_id, origin, analytics_cookies, necessary_cookies=("session",)):
    config = load_site_config(id=site_id, allowed_origins=[origin])
    for purpose in config["purposes"]:
        if purpose["id"] == "necessary":
            purpose["cookies"] = list(necessary_cookies)
        if purpose["id"] == "analytics":
            purpose["cookies"] = analytics_cookies
    return config


@pytest.fixture
def scanning(app, service):
    app.config.update(CONSENT_SCAN_ALLOW_PRIVATE="127.0.0.1/32", CONSENT_SCAN_PAGE_SECONDS=10)
    return app


@pytest.fixture
def tracker():
    """Another party's server: an embeddable page and a pixel."""
    site = HostSite()
    site.page("/embed", "<!doctype html><title>Embed</title><p>video</p><img src='/pixel.gif'>")
    site.page("/pixel.gif", "GIF89a", mimetype="image/gif")
    with BackgroundServer(site) as server:
        site.url = server.url.replace("127.0.0.1", "localhost")
        yield site


def scan(app, browser, site_id, urls, **options):
    with app.app_context():
        scan_id = scans.queue(site_id, urls, options.pop("max_pages", 5), options.pop("follow_links", False), "test")
        done = scans.run(scan_id, browser)
        assert (done.status, done.error) == ("done", None)
        return done.result


def summary(result):
    return sorted((finding["rule"], finding["severity"], finding["subject"]) for finding in result["findings"])


def test_a_site_that_misbehaves_gets_exactly_its_findings(scanning, browser, service, tracker, consent):
    site = HostSite()
    with BackgroundServer(site) as server:
        import_site(scanning, site_config("fixture", server.url, [
            declared("fx_stats", "1 year"), declared("fx_gated", "30 days"), declared("fx_long", "30 days"),
            declared("fx_never", "1 year")], necessary_cookies=[]))
        # An embed of another party's; and an image at the cloud metadata address, which the browser is
        # never let reach (the proxy refuses it), though the page's attempt is still reported.
        site.page("/", host_html(service, site="fixture", head="<script src='/stats.js'></script>", body=(
            f"<iframe src='{tracker.url}/embed' title='video'></iframe>"
            "<img src='http://169.254.169.254/latest/meta-data/' alt=''>"
            "<script type='text/plain' data-consent='analytics' src='/gated.js'></script>")))
        # First-party analytics that does not wait for consent; a gated script that does, but sets one
        # cookie nobody declared and keeps another far longer than declared.
        site.page("/stats.js", cookie_script(("fx_stats", 365 * DAY)), mimetype="text/javascript")
        site.page("/gated.js", cookie_script(("fx_gated", 30 * DAY), ("fx_extra", None), ("fx_long", 400 * DAY)),
                  mimetype="text/javascript")
        result = scan(scanning, browser, "fixture", [server.url + "/"])
    tracker_host = tracker.url.split("//")[1]
    assert summary(result) == sorted([
        # After "Reject all" the widget clears the analytics purpose's declared cookies, at the click and
        # at every page view: fx_stats comes and goes, so only the visit before a choice holds it at the end.
        ("before_consent", "high", "cookie fx_stats"),
        ("before_consent", "medium", f"host {tracker_host}"),
        ("after_reject", "medium", f"host {tracker_host}"),
        ("before_consent", "medium", "host 169.254.169.254"),
        ("after_reject", "medium", "host 169.254.169.254"),
        ("undeclared", "medium", "cookie fx_extra"),
        ("outlives_declaration", "medium", "cookie fx_long"),
        ("declared_not_seen", "low", "cookie fx_never"),
    ])
    findings = {(finding["rule"], finding["subject"]): finding for finding in result["findings"]}
    stats = findings["before_consent", "cookie fx_stats"]
    assert stats["purpose"] == "analytics" and f"set by script {server.url}/stats.js" in stats["evidence"]
    assert "set to last 400 days, declared 30 days" in findings["outlives_declaration", "cookie fx_long"]["evidence"]
    assert f"from {server.url}/" in findings["before_consent", f"host {tracker_host}"]["evidence"]
    assert result["counts"] == {"low": 1, "medium": 6, "high": 1}
    assert result["refused"] == [{"host": "169.254.169.254", "reason": (
        "169.254.169.254 resolves to 169.254.169.254, a link-local address: a scan reaches public addresses only.")}]
    # Nine visits' worth of cookies, three per kind of visitor; the gated cookie only after "Accept all".
    kinds = {visit["kind"]: {cookie["name"] for cookie in visit["cookies"]} for visit in result["visits"]}
    assert "fx_gated" in kinds["accept"] and "fx_gated" not in kinds["before"] | kinds["reject"]
    # No list knows fx_extra, so the suggestion leaves its purpose and description to the operator.
    assert result["suggested"].endswith(
        "purposes:\n- id: choose-a-purpose\n  cookies:\n  - name: fx_extra\n    lifetime:\n      zh-CN: 会话期间\n"
        "      en: Session\n    description:\n      zh-CN: ''\n      en: ''\n")
    # The scan recorded no consent: the widget ran on the device only.
    assert consent.stored_events() == []


def test_a_site_that_behaves_gets_no_findings(scanning, browser, service, consent):
    site = HostSite()
    with BackgroundServer(site) as server:
        import_site(scanning, site_config("clean", server.url, [declared("fx_gated", "30 days")]))
        site.page("/", host_html(service, site="clean", body=(
            "<a href='/about'>About</a><script type='text/plain' data-consent='analytics' src='/gated.js'></script>")),
            headers={"Set-Cookie": "session=abc; Path=/; HttpOnly"})
        site.page("/about", host_html(service, site="clean", body="<p>About us</p>"))
        site.page("/gated.js", cookie_script(("fx_gated", 29 * DAY)), mimetype="text/javascript")
        result = scan(scanning, browser, "clean", [server.url + "/"], follow_links=True)
    assert result["findings"] == [] and result["problems"] == [] and result["refused"] == []
    assert result["pages"] == [server.url + "/", server.url + "/about"]
    met = [cookie for visit in result["visits"] for cookie in visit["cookies"]]
    session_cookie = next(cookie for cookie in met if cookie["name"] == "session")
    assert session_cookie["http_only"] and session_cookie["set_by"] == f"response {server.url}/"
    assert result["suggested"] == ""
    with scanning.app_context():
        stored = get_session().get(Scan, result["scan"])
        assert (stored.status, stored.pages_done, stored.high, stored.medium, stored.low) == ("done", 2, 0, 0, 0)


def test_the_worker_runs_what_the_console_queued_and_ci_gets_json_and_an_exit_status(scanning, service, consent):
    site = HostSite()
    with BackgroundServer(site) as server:
        import_site(scanning, site_config("fixture", server.url, [], necessary_cookies=[]))
        site.page("/", host_html(service, site="fixture", head="<script src='/stats.js'></script>"))
        site.page("/stats.js", cookie_script(("fx_stats", DAY)), mimetype="text/javascript")
        with scanning.app_context():
            queued = scans.queue("fixture", [server.url + "/"], 1, False, "owner@example.com")
        worker = scan_command(scanning, "--worker", "--once")
        assert worker.exit_code == 0 and worker.stdout == f"scan {queued} of fixture: done\n"
        ci = scan_command(scanning, "fixture", server.url + "/", "--json", "--fail-on", "high")
    assert ci.exit_code == 3, ci.output
    result = json.loads(ci.stdout)  # the background servers' request log goes to stderr
    # Undeclared, so the widget does not know to clear it: it stays after "Reject all" too.
    assert summary(result) == [
        ("after_reject", "high", "cookie fx_stats"), ("before_consent", "high", "cookie fx_stats"),
        ("undeclared", "medium", "cookie fx_stats")]
    after, before, undeclared = result["findings"]
    assert re.match(r"fx_stats on 127\.0\.0\.1/, expiring 20\d\d-\d\d-\d\d \d\d:\d\d UTC, ", before["evidence"])
    assert before["evidence"].endswith(f", set by script {server.url}/stats.js, present in the before visit")
    assert commands.summary(result).splitlines() == [
        "1 pages, 3 findings: 2 high, 1 medium, 0 low",
        f"high   after_reject         cookie fx_stats on {server.url}/: {after['evidence']}",
        f"high   before_consent       cookie fx_stats on {server.url}/: {before['evidence']}",
        f"medium undeclared           cookie fx_stats on {server.url}/: {undeclared['evidence']}",
        "", *result["suggested"].splitlines()]
    with scanning.app_context():
        assert [(scan.status, scan.requested_by, scan.high) for scan in scans.history(get_session(), "fixture")] == [
            ("done", "command line", 2), ("done", "owner@example.com", 2)]
    assert consent.stored_events() == []
