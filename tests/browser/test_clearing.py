"""Cookies and storage of a refused purpose are deleted: on "Reject all" and on a withdrawal.

A fake tracker on the host page (www.shop.test, under the registrable domain shop.test) sets first-party
cookies on the host, on the parent domain and on another path, and keys in localStorage and
sessionStorage, before anyone asked the visitor: as trackers pasted without gating do.
"""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, BackgroundServer, HostSite, banner, host_html, recording
from tests.conftest import import_site, load_site_config

pytestmark = SQLITE_ONLY

TRACKER = """<script>
  document.cookie = "_shop_stats_id=1; Path=/";
  document.cookie = "_shop_stats_visit=1; Path=/; Domain=shop.test";
  document.cookie = "_shop_ad=1; Path=/ads";
  document.cookie = "_shop_adclick=1; Path=/; Domain=shop.test";
  document.cookie = "session=kept; Path=/";
  document.cookie = "unrelated=kept; Path=/";
  localStorage.setItem("shop_ad_profile", "x");
  localStorage.setItem("unrelated_key", "kept");
  sessionStorage.setItem("shop_stats_tab", "x");
</script>"""
DECLARED = {  # purpose: what the site's YAML declares it stores
    "analytics": {"cookies": [{"pattern": "_shop_stats_*", "description": {"zh-CN": "访问统计", "en": "Visit counts"}}],
                  "storage": [{"key": "shop_stats_tab", "area": "session"}]},
    "advertising": {"cookies": [{"name": "_shop_ad", "path": "/ads"}, {"name": "_shop_adclick", "domain": "shop.test"},
                                {"name": "_partner_uid", "domain": ".partner.example", "party": "third"}],
                    "storage": [{"pattern": "shop_ad_*", "area": "local"}]},
}
ANALYTICS = {"_shop_stats_id", "_shop_stats_visit"}
ADVERTISING = {"_shop_ad", "_shop_adclick"}
KEPT = {"consent_shop", "session", "unrelated"}


@pytest.fixture
def tracked(app, service, resolving_browser):
    """Opens the host page with its tracker at www.shop.test; returns a function that configures the site
    (`changes` to its YAML) and gives the page."""
    site = HostSite()
    site.page("/", host_html(service, lang="en", head=TRACKER))
    with BackgroundServer(site) as server:
        url = f"http://www.shop.test:{server.server.server_port}/"
        context = resolving_browser.new_context()
        context.set_default_timeout(10_000)

        def open_page(**changes):
            config = load_site_config(allowed_origins=[url.rstrip("/")], **changes)
            for purpose in config["purposes"]:
                purpose.update(DECLARED.get(purpose["id"], {}))
            config["policy"]["version"] = "with-declared-cookies"
            import_site(app, config)
            page = context.new_page()
            page.goto(url)
            return page

        yield open_page
        context.close()


def cookie_names(page):
    return {cookie["name"] for cookie in page.context.cookies()}


def storage_keys(page):
    """The page's storage keys but the widget's own queue of records to send."""
    keys = set(page.evaluate("() => Object.keys(localStorage).concat(Object.keys(sessionStorage))"))
    return keys - {"consent_shop_pending"}


def test_reject_all_deletes_every_declared_cookie_and_key(tracked):
    page = tracked()
    expect(banner(page)).to_be_visible()
    assert ANALYTICS | ADVERTISING <= cookie_names(page)  # the tracker ran before anyone asked
    with recording(page):
        banner(page).get_by_role("button", name="Reject all").click()
    page.wait_for_function("() => !document.cookie.includes('_shop_stats_id')")
    assert cookie_names(page) == KEPT
    assert storage_keys(page) == {"unrelated_key"}


def test_a_withdrawal_deletes_that_purposes_cookies_only(tracked):
    page = tracked()
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    assert ANALYTICS | ADVERTISING | KEPT == cookie_names(page)
    page.get_by_role("button", name="Privacy settings").click()
    preferences = page.get_by_role("dialog", name="Privacy preferences")
    expect(preferences).to_contain_text("Cookie: _shop_stats_* · Visit counts")
    expect(preferences).to_contain_text("Cookie: _partner_uid · .partner.example · set by a third party")
    with recording(page):
        preferences.get_by_label("Analytics").uncheck()
    page.wait_for_function("() => !document.cookie.includes('_shop_stats_id')")
    assert cookie_names(page) == ADVERTISING | KEPT
    assert storage_keys(page) == {"shop_ad_profile", "unrelated_key"}
    with recording(page):
        preferences.get_by_role("button", name="Withdraw all").click()
    page.wait_for_function("() => !document.cookie.includes('_shop_adclick')")
    assert cookie_names(page) == KEPT and storage_keys(page) == {"unrelated_key"}


def test_a_site_can_ask_for_a_reload_after_a_withdrawal(tracked):
    page = tracked(reload_on_withdrawal=True)
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()  # a grant: no reload
    page.evaluate("() => { window.sameDocument = true; }")
    page.get_by_role("button", name="Privacy settings").click()
    with page.expect_navigation():
        page.get_by_role("dialog").get_by_label("Advertising").click()  # unchecks it, and the page goes
    assert page.evaluate("() => window.sameDocument") is None
    # The withdrawal recorded before the reload is in force after it, and the tracker's new cookies
    # for advertising are cleared again at this page load.
    page.wait_for_function("() => window.Consent && window.Consent.get() && !window.Consent.get().pending")
    assert page.evaluate("() => window.Consent.get().choices.advertising") is False
    page.wait_for_function("() => !document.cookie.includes('_shop_adclick')")
