"""The preference centre, withdrawal, receipts, the 48-hour rule and re-prompting on a new policy."""
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recorded, recording, wait_for_decision
from tests.conftest import import_site, load_site_config

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

pytestmark = SQLITE_ONLY


def floating_button(page, name="Privacy settings"):
    return page.get_by_role("button", name=name)


def preferences(page):
    return page.get_by_role("dialog", name="Privacy preferences")


@pytest.fixture
def decided(page, service, host):
    """A visitor who accepted everything on the English banner."""
    open_host(page, service, host, lang="en")
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.Consent.get().receiptId !== null")
    return page


def test_withdrawing_one_purpose_is_one_click_and_a_new_record(decided, consent):
    page = decided
    first_receipt = page.evaluate("() => window.Consent.get().receiptId")
    floating_button(page).click()
    with recording(page) as posted:
        preferences(page).get_by_label("Analytics").uncheck()
    assert posted.value.status == 201
    first, second = recorded(consent)
    assert first["choices"]["analytics"] is True and second["choices"]["analytics"] is False
    assert second["choices"]["advertising"] is True and second["collection_method"] == "preference_centre"
    page.wait_for_function(f"() => window.Consent.get().receiptId !== {first_receipt!r}")
    assert page.evaluate("() => window.Consent.get().receiptId") == second["receipt_id"]


def test_withdraw_all_is_one_click(decided, consent):
    page = decided
    floating_button(page).click()
    with recording(page):
        preferences(page).get_by_role("button", name="Withdraw all").click()
    assert recorded(consent)[-1]["action"] == "reject_all"
    assert page.evaluate("() => window.Consent.get().choices.analytics") is False


def test_preferences_open_from_the_api_and_link_the_latest_receipt_and_history(decided, consent, context, service):
    page = decided
    page.evaluate("() => window.Consent.showPreferences()")
    [event] = recorded(consent)
    history = preferences(page).get_by_role("link", name="My consent history")
    # A short-lived link the service made for this visitor's credential; receipt ids open no history.
    assert history.get_attribute("href").startswith(f"{service.url}/me/shop?access=")
    with context.expect_page() as opened:
        preferences(page).get_by_role("link", name="View my consent receipt").click()
    receipt_page = opened.value
    receipt_page.wait_for_load_state()
    expect(receipt_page.get_by_role("heading", name="Consent receipt")).to_be_visible()
    assert event["receipt_id"] in receipt_page.content()
    expect(receipt_page.get_by_role("row", name="Analytics Granted")).to_be_visible()
    with context.expect_page() as opened:
        preferences(page).get_by_role("link", name="My consent history").click()
    expect(opened.value.get_by_role("heading", name="My data on Example Shop")).to_be_visible()
    expect(opened.value.get_by_role("link", name=event["receipt_id"][:8])).to_be_visible()  # this visitor's decision


def test_modal_traps_focus_and_escape_closes_it(decided):
    page = decided
    floating_button(page).click()
    dialog = preferences(page)
    expect(dialog).to_have_attribute("aria-modal", "true")
    focused_inside = (
        "() => document.activeElement.matches('[data-consent-widget]')"
        " && document.activeElement.shadowRoot.activeElement !== null"
    )
    assert page.evaluate(focused_inside)
    for _ in range(30):  # more Tabs than the dialog has controls: focus never leaves it
        page.keyboard.press("Tab")
        assert page.evaluate(focused_inside)
        assert page.evaluate("() => document.activeElement.shadowRoot.activeElement.closest('[role=dialog]') !== null")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate("() => document.activeElement.shadowRoot.activeElement.className") == "fab"


def test_preferences_in_chinese(page, service, host):
    open_host(page, service, host, lang="zh-CN")
    with recording(page):
        banner(page).get_by_role("button", name="全部拒绝").click()
    floating_button(page, "隐私设置").click()
    dialog = page.get_by_role("dialog", name="隐私偏好设置")
    expect(dialog.get_by_role("button", name="全部撤回")).to_be_visible()
    expect(dialog.get_by_role("checkbox", name="访问统计")).not_to_be_checked()


@pytest.mark.parametrize(("hours_later", "asked_again"), [(47, False), (49, True)])
def test_after_a_refusal_the_banner_waits_48_hours(page, service, host, hours_later, asked_again):
    page.clock.install(time=T0)
    open_host(page, service, host, lang="en")
    with recording(page):
        banner(page).get_by_role("button", name="Reject all").click()
    page.clock.set_system_time(T0 + timedelta(hours=hours_later))
    page.reload()
    wait_for_decision(page)
    if asked_again:
        expect(banner(page)).to_be_visible()
    else:
        expect(floating_button(page)).to_be_visible()
        expect(banner(page)).to_have_count(0)


def test_acceptance_is_not_asked_again_after_48_hours(decided):
    page = decided
    page.clock.install(time=datetime.now(UTC) + timedelta(days=30))
    page.reload()
    expect(floating_button(page)).to_be_visible()
    expect(banner(page)).to_have_count(0)


def test_new_policy_version_asks_again_and_keeps_the_old_record(decided, app, host, consent):
    page = decided
    config = load_site_config(allowed_origins=[host.url])
    config["policy"] = {
        **config["policy"], "version": "v2", "changes": {"zh-CN": "新增境外提供。", "en": "Added transfer abroad."}
    }
    import_site(app, config)
    page.reload()
    expect(banner(page).get_by_text("Our privacy policy has changed")).to_contain_text("Added transfer abroad.")
    link = banner(page).get_by_role("link", name="See what changed")
    assert link.get_attribute("href").endswith("/policies/shop/v2")
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Reject all").click()
    assert posted.value.status == 201
    old, new = recorded(consent)
    assert (old["policy_version"], old["action"]) == ("v1", "accept_all")
    assert (new["policy_version"], new["action"]) == ("v2", "reject_all")
