"""Scans as stored: queued from the console or started from the command line, run by one process at a time
per site, kept with their dates and results so that the console can compare them.

    queue()      a scan waits for the worker (`flask consent scan --worker`); the console's "Scan" button
    run()        claims a queued scan and runs it here: the command line, and the worker's loop
    run_next()   the worker's step: fail scans a dead worker left running, then run the oldest queued one

A scan never runs inside a web request. One site has at most one queued or running scan: the partial unique
index ux_scans_one_active (migration 0018) refuses a second, whichever process asks.
"""
import time
from contextlib import nullcontext
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from consent import clock
from consent.scanner import browse, findings, guard, known, report
from consent.sites import configs, cookie_declarations
from consent.storage.db import get_session, write_transaction
from consent.storage.models import in_utc
from consent.storage.operations import Scan

COMMAND_LINE = "command line"


def queue(site_id, urls, max_pages, follow_links, requested_by):
    """A new queued scan of `urls` on the site's allowed origins; ScanRefused when they are not, or when the
    site already has a scan queued or running."""
    urls = [url.strip() for url in urls if url.strip()]
    limit = current_app.config["CONSENT_SCAN_MAX_PAGES"]
    if not urls:
        raise guard.ScanRefused("no_pages")
    if not 1 <= max_pages <= limit or len(urls) > limit:
        raise guard.ScanRefused("page_limit", limit=limit)
    site = configs.get_site(get_session(), site_id)
    guard.check_pages(urls, site.allowed_origins)
    get_session().rollback()
    try:
        with write_transaction() as session:
            scan = Scan(site_id=site_id, status="queued", requested_by=requested_by, urls=urls, max_pages=max_pages,
                        follow_links=follow_links, pages_done=0)
            session.add(scan)
            session.flush()
            return scan.id
    except IntegrityError:
        raise guard.ScanRefused("busy") from None


def run(scan_id, browser=None, storage_state=None):
    """Run the queued scan `scan_id` to its end (done or failed) and return it, stored."""
    if not _claim(scan_id):
        raise guard.ScanRefused("busy")
    try:
        result = _scan(get_session().get(Scan, scan_id), browser, storage_state)
    except guard.ScanRefused as refusal:
        return _finish(scan_id, error=str(refusal))
    except Exception as error:  # the browser or the network failed: the scan fails, the worker goes on
        current_app.logger.exception("scan %s failed", scan_id)
        return _finish(scan_id, error=f"{type(error).__name__}: {error}"[:500])
    return _finish(scan_id, result=result)


def run_next(browser=None):
    """Fail scans a stopped worker left running, then run the oldest queued scan; the scan, or None."""
    stale = clock.now() - timedelta(seconds=2 * current_app.config["CONSENT_SCAN_MAX_SECONDS"])
    with write_transaction() as session:
        session.execute(update(Scan).where(Scan.status == "running", Scan.started_at < stale).values(
            status="failed", finished_at=clock.now(), error="The scan worker stopped before the scan finished."))
    scan_id = get_session().scalar(select(Scan.id).where(Scan.status == "queued").order_by(Scan.id).limit(1))
    get_session().rollback()
    return None if scan_id is None else run(scan_id, browser)


def history(session, site_id, limit=50):
    """The site's scans, newest first."""
    return session.scalars(select(Scan).where(Scan.site_id == site_id).order_by(Scan.id.desc()).limit(limit)).all()


def _claim(scan_id):
    """Mark the scan running if it is still queued; False when another process took it first."""
    with write_transaction() as session:
        claimed = session.execute(update(Scan).where(Scan.id == scan_id, Scan.status == "queued").values(
            status="running", started_at=clock.now()))
        return claimed.rowcount == 1


def _progress(scan_id):
    def record(pages_done):
        with write_transaction() as session:
            session.execute(update(Scan).where(Scan.id == scan_id).values(pages_done=pages_done))
    return record


def _scan(scan, browser, storage_state):
    """The scan's result document: visits, findings, the suggested declarations."""
    config = current_app.config
    site = configs.get_site(get_session(), scan.site_id)
    policy = configs.current_policy(get_session(), site)
    site_purposes, origins = policy.purposes, site.allowed_origins
    get_session().rollback()  # no transaction stays open while the browser works
    allowed = guard.allowed_networks(config["CONSENT_SCAN_ALLOW_PRIVATE"])
    guard.check_start(scan.urls, origins, allowed)
    service_url = config["CONSENT_PUBLIC_URL"].rstrip("/")
    with guard.FilteringProxy(allowed) as proxy, _browser(browser) as chromium:
        visits, pages, problems = browse.visit_pages(
            chromium, scan.urls, allowed_origins=origins, proxy_url=proxy.url, service_url=service_url,
            max_pages=scan.max_pages, follow_links=scan.follow_links, page_seconds=config["CONSENT_SCAN_PAGE_SECONDS"],
            deadline=time.monotonic() + config["CONSENT_SCAN_MAX_SECONDS"], storage_state=storage_state,
            progress=_progress(scan.id))
    lists = known.known_cookies()
    found = findings.findings(site_purposes, visits, cookie_declarations.own_cookie(scan.site_id), lists,
                              browse.host_of(service_url))
    return report.document(scan, site_purposes, pages, visits, found, problems, proxy.refused, lists)


def _browser(browser):
    """The caller's browser (tests, the worker's), or a Chromium of our own for this scan."""
    if browser is not None:
        return nullcontext(browser)
    from consent.scanner.chromium import launched  # Playwright starts only where a scan runs
    return launched()


def _finish(scan_id, result=None, error=None):
    with write_transaction() as session:
        scan = session.get(Scan, scan_id)
        scan.status, scan.finished_at, scan.error = ("failed" if error else "done"), clock.now(), error
        if result is not None:
            scan.result = result
            scan.pages_done = len(result["pages"])
            for severity in findings.SEVERITIES:
                setattr(scan, severity, result["counts"][severity])
    get_session().rollback()  # a read transaction begun while the scan ran sees the scan as it was then
    return get_session().get(Scan, scan_id)


def duration(scan):
    """How long a finished scan took, in seconds, or None."""
    if scan.started_at is None or scan.finished_at is None:
        return None
    return (in_utc(scan.finished_at) - in_utc(scan.started_at)).total_seconds()
