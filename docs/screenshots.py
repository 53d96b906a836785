"""Screenshots of the demo site's banner and preference centre in zh-CN and English, and of the console's
report of a compliance scan of the demo page, into docs/*.png.

Run with `make screenshots`: a throw-away SQLite database, the demo site, the service on a free
loopback port, Debian's Chromium (with fonts-noto-cjk for the Chinese).
"""
import json
import random
import secrets
import sys
import tempfile
import threading
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scan import fixture_site  # noqa: E402  (the project root is only importable from here on)
from bench.stats import asked_in_the_banner  # noqa: E402
from consent import clock, create_app  # noqa: E402
from consent.accounts import operators  # noqa: E402
from consent.scanner import scans  # noqa: E402
from consent.sites import configs  # noqa: E402
from consent.stats import rollup  # noqa: E402
from consent.storage import db  # noqa: E402
from tests.browser.conftest import BackgroundServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 960, "height": 1100}
LABELS = {"zh-CN": ("zh", "全部拒绝", "隐私设置"), "en": ("en", "Reject all", "Privacy settings")}


def demo_app(workdir):
    """The service on a fresh SQLite database holding the demo site, embeddable from `origin` later; the scanner
    may reach loopback, where the demo page is served."""
    app = create_app({"DATABASE_URL": f"sqlite:///{workdir}/consent.sqlite3", "SECRET_KEY": secrets.token_urlsafe(48),
                      "CONSENT_KEY_DIR": f"{workdir}/keys", "CONSENT_SCAN_ALLOW_PRIVATE": "127.0.0.1/32",
                      "RATELIMIT_ENABLED": False})  # the statistics' made-up decisions come from one address
    db.upgrade(app)
    return app


def import_demo(app, *origins):
    config = configs.parse_yaml((ROOT / "examples" / "sites" / "demo.yaml").read_text(encoding="utf-8"))
    config["allowed_origins"].extend(origins)
    with app.app_context(), db.write_transaction() as session:
        configs.import_site(session, config)


def capture(base_url):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for language, (suffix, reject, settings) in LABELS.items():
            page = browser.new_page(viewport=VIEWPORT, locale=language, reduced_motion="reduce")
            page.goto(f"{base_url}/?lang={language}")
            page.get_by_role("dialog").get_by_role("button", name=reject).wait_for()
            page.screenshot(path=ROOT / "docs" / f"banner-{suffix}.png")
            with page.expect_response(lambda response: response.url.endswith("/api/v1/consents")):
                page.get_by_role("dialog").get_by_role("button", name=reject).click()
            page.wait_for_function("() => window.Consent.get().receiptId !== null")
            page.get_by_role("button", name=settings).click()
            page.get_by_role("dialog").wait_for()
            page.screenshot(path=ROOT / "docs" / f"preferences-{suffix}.png")
            page.close()
            print(f"docs/banner-{suffix}.png docs/preferences-{suffix}.png")
        browser.close()


@contextmanager
def console_page(app, base_url, height):
    """A Chromium page signed in to the console, in Chinese, as an owner made for the screenshots."""
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "docs", PASSWORD)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": height}, locale="zh-CN")
        page.goto(f"{base_url}/admin/login?lang=zh-CN")
        page.locator("input[name=username]").fill("docs")
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("input[type=submit], button[type=submit]").last.click()
        yield page
        browser.close()


def capture_scan_report(app, base_url, shop_url):
    """Scan the benchmark's fixture shop (an analytics script that does not wait, gated ones that do, an embed),
    twice, then photograph the console's scan page and the newest report, in Chinese."""
    app.config["CONSENT_PUBLIC_URL"] = base_url
    with app.app_context():
        for pages in (1, 3):  # two scans, so the chart over time has two bars
            scans.run(scans.queue("demo", [f"{shop_url}/page0"], pages, True, "docs/screenshots.py"))
    with console_page(app, base_url, height=1400) as page:
        page.goto(f"{base_url}/admin/sites/demo/scans?lang=zh-CN")
        page.screenshot(path=ROOT / "docs" / "scans-zh.png", full_page=True)
        page.goto(f"{base_url}/admin/sites/demo/scans/2?lang=zh-CN")
        page.screenshot(path=ROOT / "docs" / "scan-report-zh.png")  # its top: the findings; tables follow below
    print("docs/scans-zh.png docs/scan-report-zh.png")


def capture_stats(app, base_url):
    """Two weeks of made-up decisions and banner marks of the demo site, rolled up; the Statistics page in Chinese."""
    config = configs.parse_yaml((ROOT / "examples" / "sites" / "demo.yaml").read_text(encoding="utf-8"))
    banner = asked_in_the_banner(config)
    randomly, real_now, client = random.Random(17), clock.now, app.test_client()
    today = real_now()
    try:
        for day in range(14):
            for number in range(randomly.randint(30, 70)):
                moment = today - timedelta(days=13 - day, minutes=number * 9)
                clock.now = lambda moment=moment: moment
                granted = randomly.random() < 0.55
                choices = {purpose: granted or randomly.random() < 0.2 for purpose in banner}
                client.post("/api/v1/consents", headers={"Origin": base_url}, json={
                    "site_id": "demo", "policy_version": config["policy"]["version"],
                    "language": "zh-CN" if number % 3 else "en", "choices": choices})
                for mark, seconds in (("shown", None), ("accept_all" if granted else "reject_all", number % 40)):
                    if mark == "shown" or number % 4:  # every fourth banner left without a decision
                        client.post("/api/v1/sites/demo/funnel", headers={"Origin": base_url}, data=json.dumps(
                            {"mark": mark, "language": "zh-CN", **({} if seconds is None else {"seconds": seconds})}))
    finally:
        clock.now = real_now
    with app.app_context():
        rollup.roll_up_all()
    with console_page(app, base_url, height=1500) as page:
        first = (today - timedelta(days=13)).date()
        page.goto(f"{base_url}/admin/sites/demo/stats?lang=zh-CN&from={first}&to={today.date()}")
        page.screenshot(path=ROOT / "docs" / "stats-zh.png")
    print("docs/stats-zh.png")


PASSWORD = secrets.token_urlsafe(16)


def main():
    with tempfile.TemporaryDirectory() as workdir:
        app = demo_app(workdir)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base_url = f"http://127.0.0.1:{server.server_port}"
        shop = BackgroundServer(fixture_site(SimpleNamespace(url=base_url), pages=3))
        import_demo(app, base_url, shop.url)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            capture(base_url)
            with shop:
                capture_scan_report(app, base_url, shop.url)
            capture_stats(app, base_url)
        finally:
            server.shutdown()
            db.dispose(app)


if __name__ == "__main__":
    main()
