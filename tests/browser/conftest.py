"""Browser fixtures: Debian's Chromium through Playwright, our service and a host page on another origin."""
import json
import threading

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.conftest import import_site, load_site_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]

# The widget's behaviour does not depend on the storage backend (tests/test_*.py cover both), so
# most browser modules run on SQLite only: `pytestmark = SQLITE_ONLY`. test_banner.py runs on both.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class BackgroundServer:
    """A WSGI app served on a free loopback port from a thread, for the length of one test."""

    def __init__(self, wsgi_app):
        self.server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.server.server_close()


class HostSite:
    """A customer's website: pages (or scripts) by path, with optional headers."""

    def __init__(self):
        self.pages = {}

    def page(self, path, html, headers=None, mimetype="text/html"):
        self.pages[path] = (html, headers or {}, mimetype)

    @Request.application
    def __call__(self, request):
        if request.path not in self.pages:
            return Response("not found", status=404)
        html, headers, mimetype = self.pages[request.path]
        return Response(html, mimetype=mimetype, headers=headers)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def resolving_browser(browser):
    """A second Chromium from the session's Playwright (one Playwright per process), resolving *.shop.test to
    loopback: host pages under one registrable domain, as www. and console. of a real site are."""
    resolving = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP *.shop.test 127.0.0.1"])
    yield resolving
    resolving.close()


@pytest.fixture
def service(app):
    with BackgroundServer(app) as server:
        app.config["CONSENT_PUBLIC_URL"] = server.url  # the links it signs and shows point to itself
        yield server


@pytest.fixture
def host(app):
    """The host site on another port (another origin), allowed to embed the `shop` widget."""
    site = HostSite()
    with BackgroundServer(site) as server:
        site.url = server.url
        import_site(app, load_site_config(allowed_origins=["https://shop.example", server.url]))
        yield site


@pytest.fixture
def context(browser):
    context = browser.new_context()
    context.set_default_timeout(10_000)  # a missing element fails the test in seconds, not half a minute
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


def host_html(service, lang="zh-CN", site="shop", body="", head="", tag_attributes=""):
    """A host page embedding the widget with the one documented tag (`lang=None`: no lang attribute)."""
    lang_attribute = f' lang="{lang}"' if lang else ""
    return (
        f'<!doctype html><html{lang_attribute}><head><meta charset="utf-8"><title>Host</title>{head}</head>'
        f"<body><main><h1>Host page</h1>{body}</main>"
        f'<script src="{service.url}/static/consent.js" data-site="{site}" {tag_attributes} async></script>'
        "</body></html>"
    )


def open_host(page, service, host, **html_options):
    """Serve a host page embedding the widget and open it in `page`."""
    host.page("/", host_html(service, **html_options))
    page.goto(host.url + "/")


def recording(page):
    """Wait for the widget's next POST /api/v1/consents (use as a context manager around the click)."""
    return page.expect_response(lambda r: r.url.endswith("/api/v1/consents") and r.request.method == "POST")


def recorded(consent):
    """The stored consent event documents, oldest first."""
    return [json.loads(event.document) for event in consent.stored_events()]


def banner(page):
    return page.get_by_role("dialog")


def wait_for_decision(page):
    page.wait_for_function("() => window.Consent && window.Consent.get() !== null")
