"""One decision for a site's subdomains: with `cookie_domain`, www. and console. share the visitor's choice.

Chromium resolves *.shop.test to loopback here, so two host names under one domain serve the host pages.
"""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    SQLITE_ONLY,
    BackgroundServer,
    HostSite,
    banner,
    host_html,
    recording,
    wait_for_decision,
)
from tests.conftest import import_site, load_site_config

pytestmark = SQLITE_ONLY


@pytest.fixture
def subdomains(app, service):
    """The host site answering as www.shop.test and console.shop.test; returns a function that configures
    the site with or without a cookie domain and gives both pages' URLs."""
    site = HostSite()
    site.page("/", host_html(service, lang="en"))
    with BackgroundServer(site) as server:
        port = server.server.server_port
        urls = [f"http://{name}.shop.test:{port}" for name in ("www", "console")]

        def configure(**changes):
            import_site(app, load_site_config(allowed_origins=urls, **changes))
            return urls

        yield configure


def decide_on_one_and_open_the_other(resolving_browser, urls):
    context = resolving_browser.new_context()
    context.set_default_timeout(10_000)
    try:
        first = context.new_page()
        first.goto(urls[0] + "/")
        with recording(first):
            banner(first).get_by_role("button", name="Accept all").click()
        second = context.new_page()
        second.goto(urls[1] + "/")
        second.wait_for_function("() => window.Consent !== undefined")
        return second, [(cookie["name"], cookie["domain"]) for cookie in context.cookies()]
    except BaseException:
        context.close()
        raise


def test_with_a_cookie_domain_both_subdomains_share_the_decision(resolving_browser, subdomains):
    second, cookies = decide_on_one_and_open_the_other(resolving_browser, subdomains(cookie_domain="shop.test"))
    wait_for_decision(second)
    assert second.evaluate("() => window.Consent.get().choices.analytics") is True
    expect(banner(second)).to_have_count(0)
    assert cookies == [("consent_shop", ".shop.test")]
    second.context.close()


def test_without_one_each_host_asks_for_itself(resolving_browser, subdomains):
    second, cookies = decide_on_one_and_open_the_other(resolving_browser, subdomains())
    expect(banner(second)).to_be_visible()
    assert cookies == [("consent_shop", "www.shop.test")]
    second.context.close()
