"""Screenshots of the demo site's banner and preference centre in zh-CN and English, and of the console's
report of a compliance scan of the demo page, into docs/*.png.

Run with `make screenshots`: a throw-away SQLite database, the demo site, the service on a free
loopback port, Debian's Chromium (with fonts-noto-cjk for the Chinese).
"""
import secrets
import sys
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scan import fixture_site  # noqa: E402  (the project root is only importable from here on)
from consent import create_app  # noqa: E402
from consent.accounts import operators  # noqa: E402
from consent.scanner import scans  # noqa: E402
from consent.sites import configs  # noqa: E402
from consent.storage import db  # noqa: E402
from tests.browser.conftest import BackgroundServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 960, "height": 1100}
LABELS = {"zh-CN": ("zh", "全部拒绝", "隐私设置"), "en": ("en", "Reject all", "Privacy settings")}


def demo_app(workdir):
    """The service on a fresh SQLite database holding the demo site, embeddable from `origin` later; the scanner
    may reach loopback, where the demo page is served."""
    app = create_app({"DATABASE_URL": f"sqlite:///{workdir}/consent.sqlite3", "SECRET_KEY": secrets.token_urlsafe(48),
                      "CONSENT_KEY_DIR": f"{workdir}/keys", "CONSENT_SCAN_ALLOW_PRIVATE": "127.0.0.1/32"})
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


def capture_scan_report(app, base_url, shop_url):
    """Scan the benchmark's fixture shop (an analytics script that does not wait, gated ones that do, an embed),
    twice, then photograph the console's scan page and the newest report, in Chinese."""
    app.config["CONSENT_PUBLIC_URL"] = base_url
    with app.app_context():
        for pages in (1, 3):  # two scans, so the chart over time has two bars
            scans.run(scans.queue("demo", [f"{shop_url}/page0"], pages, True, "docs/screenshots.py"))
        with db.write_transaction() as session:
            operators.set_password(session, "docs", PASSWORD)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 1400}, locale="zh-CN")
        page.goto(f"{base_url}/admin/login?lang=zh-CN")
        page.locator("input[name=username]").fill("docs")
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("input[type=submit], button[type=submit]").last.click()
        page.goto(f"{base_url}/admin/sites/demo/scans?lang=zh-CN")
        page.screenshot(path=ROOT / "docs" / "scans-zh.png", full_page=True)
        page.goto(f"{base_url}/admin/sites/demo/scans/2?lang=zh-CN")
        page.screenshot(path=ROOT / "docs" / "scan-report-zh.png")  # its top: the findings; tables follow below
        browser.close()
    print("docs/scans-zh.png docs/scan-report-zh.png")


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
        finally:
            server.shutdown()
            db.dispose(app)


if __name__ == "__main__":
    main()
