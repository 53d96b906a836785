"""Scan benchmark: how long the compliance scanner takes for a 10-page site, against the floor of the same run,
what Chromium alone takes to load those pages as the same 30 fresh visitors through the same filtering proxy.

The site is the demo site's widget on ten loopback pages, each with an ungated first-party analytics script,
two gated ones and an embed of another host: the scan drives the banner on each (before, "Reject all",
"Accept all"), waits for the network to settle after each step and reloads with the decision in force.

    .venv/bin/python -m bench.scan [--pages 10] [--runs 3]
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import bench_app, machine_note, prepare_database, print_table
from consent.scanner import guard, scans
from consent.scanner.chromium import launched
from consent.scanner.findings import VISITS
from consent.storage import db
from tests.browser.conftest import BackgroundServer, HostSite, host_html

HEADER = ["measure", "seconds (median)", "per page", "ratio to the floor"]


def fixture_site(service, pages):
    site = HostSite()
    links = "".join(f"<a href='/page{number}'>page {number}</a> " for number in range(pages))
    for number in range(pages):
        site.page(f"/page{number}", host_html(service, site="demo", head="<script src='/stats.js'></script>", body=(
            links + "<iframe src='http://localhost:1/embed' title='embed'></iframe>"
            "<script type='text/plain' data-consent='analytics' src='/gated.js'></script>"
            "<script type='text/plain' data-consent='advertising' src='/gated.js'></script>")))
    site.page("/stats.js", 'document.cookie = "demo_stats_id=1; max-age=86400; path=/";', mimetype="text/javascript")
    site.page("/gated.js", 'document.cookie = "demo_prefs=1; max-age=86400; path=/";', mimetype="text/javascript")
    return site


def floor_seconds(browser, urls, allowed):
    """The same fresh visitors loading the same pages through the same proxy, choosing nothing."""
    started = time.monotonic()
    with guard.FilteringProxy(allowed) as proxy:
        for url in urls:
            for _kind in VISITS:
                context = browser.new_context(proxy={"server": proxy.url})
                context.new_page().goto(url, wait_until="load")
                context.close()
    return time.monotonic() - started


def run(pages=10, runs=3):
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite:///{Path(directory) / 'scan.sqlite3'}"
        app = bench_app(database_url, CONSENT_SCAN_ALLOW_PRIVATE="127.0.0.1/32", CONSENT_KEY_DIR=f"{directory}/keys")
        with BackgroundServer(app) as service:
            app.config["CONSENT_PUBLIC_URL"] = service.url
            site = fixture_site(service, pages)
            with BackgroundServer(site) as host:
                prepare_database(database_url, host.url)
                urls = [f"{host.url}/page{number}" for number in range(pages)]
                scan_times, floor_times = [], []
                with app.app_context(), launched() as browser:
                    allowed = guard.allowed_networks("127.0.0.1/32")
                    for _ in range(runs):
                        floor_times.append(floor_seconds(browser, urls, allowed))
                        started = time.monotonic()
                        done = scans.run(scans.queue("demo", urls, pages, False, "bench"), browser)
                        scan_times.append(time.monotonic() - started)
                        assert done.status == "done" and len(done.result["pages"]) == pages, done.error
                db.dispose(app)
    scan, floor = statistics.median(scan_times), statistics.median(floor_times)
    rows = [[f"scan of {pages} pages, 3 visitors each", f"{scan:.1f}", f"{scan / pages:.2f}", f"{scan / floor:.2f}×"],
            [f"floor: {pages * 3} bare page loads, same proxy", f"{floor:.1f}", f"{floor / pages:.2f}", "1.00×"]]
    return rows, {"scan": scan, "floor": floor, "pages": pages}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    note = machine_note()
    rows, _ = run(args.pages, args.runs)
    print_table(f"Scan details: medians of {args.runs} runs ({note})", HEADER, rows)


if __name__ == "__main__":
    main()
