"""A decision lasts the site's lifetime, then the visitor is asked again; on browsers that cap what scripts
store (Safari deletes script-set cookies after 7 days), a verified user's decision comes back from the
service. Chromium has no such cap, so it is simulated: the shifted clock, then the cookie deleted."""
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recording, wait_for_decision
from tests.browser.test_verified_subjects import USER, subject_token, user_tag
from tests.conftest import import_site, load_site_config

pytestmark = SQLITE_ONLY


def decide_and_get_receipt(page, service, host, **html_options):
    open_host(page, service, host, lang="en", **html_options)
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    wait_for_decision(page)
    page.wait_for_function("() => window.Consent.get().receiptId")
    return page.evaluate("() => window.Consent.get()")


def later(context, host, days):
    """A new page of the same browser, its clock `days` ahead, on the host page."""
    page = context.new_page()
    page.clock.install(time=datetime.now(UTC) + timedelta(days=days))
    page.goto(host.url + "/")
    return page


@pytest.mark.parametrize(("months", "still", "expired"), [(12, 360, 367), (1, 27, 32)])
def test_a_decision_expires_after_the_sites_lifetime(app, context, page, service, host, months, still, expired):
    config = load_site_config(allowed_origins=["https://shop.example", host.url], consent_lifetime_months=months)
    import_site(app, config)
    decided = decide_and_get_receipt(page, service, host)
    assert decided["choices"]["analytics"] is True

    kept = later(context, host, still)
    expect(kept.get_by_role("button", name="Privacy settings")).to_be_visible()
    assert kept.evaluate("() => window.Consent.get().receiptId") == decided["receiptId"]

    asked = later(context, host, expired)
    expect(banner(asked).get_by_role("button", name="Accept all")).to_be_visible()
    assert asked.evaluate("() => window.Consent.get()") is None  # an expired decision is none, here too


def test_a_capped_browser_gets_a_verified_users_decision_back_from_the_service(app, context, page, service, host):
    token = subject_token(app, USER, expires_in=3600 * 24 * 30)
    html = {"tag_attributes": user_tag(token)}
    decided = decide_and_get_receipt(page, service, host, **html)
    context.clear_cookies()  # what the cap does to the widget's cookie after 7 days

    page = context.new_page()
    page.clock.install(time=datetime.now(UTC) + timedelta(days=8))
    open_host(page, service, host, lang="en", **html)
    expect(page.get_by_role("button", name="Privacy settings")).to_be_visible()
    restored = page.evaluate("() => window.Consent.get()")
    assert restored["receiptId"] == decided["receiptId"] and restored["choices"] == decided["choices"]


def test_without_a_user_a_capped_browser_asks_again(context, page, service, host):
    decide_and_get_receipt(page, service, host)
    context.clear_cookies()
    page = context.new_page()
    open_host(page, service, host, lang="en")
    expect(banner(page).get_by_role("button", name="Accept all")).to_be_visible()
