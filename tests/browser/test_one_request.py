"""The per-site script: the banner of a first visit needs one request, a returning visitor revalidates it."""
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, recording

pytestmark = SQLITE_ONLY


def per_site_page(service, lang):
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Host</title></head><body>'
            f'<h1>Host page</h1><script src="{service.url}/api/v1/sites/shop/consent.js?lang={lang}" async>'
            "</script></body></html>")


# When the widget's element entered the page, on the page's own clock.
BANNER_TIME = """new MutationObserver(() => { if (!window.bannerAt && document.querySelector("[data-consent-widget]"))
  window.bannerAt = performance.now(); }).observe(document, { childList: true, subtree: true });"""


def test_a_first_visit_shows_the_banner_after_one_request(page, service, host):
    host.page("/", per_site_page(service, "en"))
    page.add_init_script(BANNER_TIME)
    page.goto(host.url + "/")
    expect(banner(page).get_by_role("button", name="Accept all")).to_be_visible()
    requests = page.evaluate("""() => performance.getEntriesByType("resource")
      .map((entry) => [entry.name, entry.startTime < window.bannerAt])""")
    before_banner = [url for url, before in requests if url.startswith(service.url) and before]
    assert len(before_banner) == 1 and "/api/v1/sites/shop/consent.js" in before_banner[0]
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Accept all").click()
    assert posted.value.status == 201
    # What the banner did not need came after it: the lazy part, at its immutable address.
    after = page.evaluate("""() => performance.getEntriesByType("resource").map((entry) => entry.name)""")
    assert any("/static/consent-lazy.js?v=" in url for url in after)
    assert page.evaluate("() => window.Consent.get().choices.analytics") is True


def test_a_returning_visitor_revalidates_with_a_304(page, service, host):
    host.page("/", per_site_page(service, "zh-CN"))
    page.goto(host.url + "/")
    expect(banner(page).get_by_role("button", name="全部接受")).to_be_visible()
    statuses = {}
    page.on("response", lambda response: statuses.setdefault(response.url.split("?")[0].rsplit("/", 1)[-1],
                                                              response.status))
    page.reload()
    expect(banner(page).get_by_role("button", name="全部接受")).to_be_visible()
    assert statuses["consent.js"] == 304
