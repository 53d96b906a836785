"""The scan's browser: Debian's Chromium driven by Playwright (`playwright install` is never needed)."""
from contextlib import contextmanager

from flask import current_app
from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@contextmanager
def launched():
    """A Chromium of its own for one scan, or the worker's life; closed on leaving."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=current_app.config["CONSENT_SCAN_CHROMIUM"], args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
