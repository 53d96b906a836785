"""Screenshots of the demo site's banner and preference centre in zh-CN and English, into docs/*.png.

Run with `make screenshots`: a throw-away SQLite database, the demo site, the service on a free
loopback port, Debian's Chromium (with fonts-noto-cjk for the Chinese).
"""
import secrets
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consent import create_app, db, sites  # noqa: E402  (the project root is only importable from here on)

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 960, "height": 1100}
LABELS = {"zh-CN": ("zh", "全部拒绝", "隐私设置"), "en": ("en", "Reject all", "Privacy settings")}


def demo_app(workdir):
    """The service on a fresh SQLite database holding the demo site, embeddable from `origin` later."""
    app = create_app({"DATABASE_URL": f"sqlite:///{workdir}/consent.sqlite3", "SECRET_KEY": secrets.token_urlsafe(48)})
    db.upgrade(app)
    return app


def import_demo(app, origin):
    config = sites.parse_yaml((ROOT / "examples" / "sites" / "demo.yaml").read_text(encoding="utf-8"))
    config["allowed_origins"].append(origin)
    with app.app_context(), db.write_transaction() as session:
        sites.import_site(session, config)


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


def main():
    with tempfile.TemporaryDirectory() as workdir:
        app = demo_app(workdir)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base_url = f"http://127.0.0.1:{server.server_port}"
        import_demo(app, base_url)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            capture(base_url)
        finally:
            server.shutdown()
            db.dispose(app)


if __name__ == "__main__":
    main()
