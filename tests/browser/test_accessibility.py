"""axe-core finds nothing wrong with the banner or the preference centre, in either language or colour scheme."""
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recorded, recording

AXE = Axe()
LABELS = {"zh-CN": ("自定义设置", "全部拒绝", "隐私设置"), "en": ("Customize", "Reject all", "Privacy settings")}

pytestmark = SQLITE_ONLY


def assert_no_violations(page):
    # Judged on the settled picture, not halfway through the slide-in.
    page.evaluate(
        "() => Promise.all(document.querySelector('[data-consent-widget]').shadowRoot.getAnimations()"
        ".map(a => a.finished))"
    )
    violations = AXE.run(page).response["violations"]
    # Our own report: the package's generate_report() cannot print targets inside a shadow root.
    report = [
        f"{violation['id']}: {violation['help']} at {node['target']}: {node['failureSummary']}"
        for violation in violations
        for node in violation["nodes"]
    ]
    assert violations == [], "\n".join(report)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_banner_and_preference_centre_pass_axe(browser, service, host, lang, scheme):
    context = browser.new_context(color_scheme=scheme)
    try:
        page = context.new_page()
        customize, reject, settings = LABELS[lang]
        open_host(page, service, host, lang=lang)
        expect(banner(page)).to_be_visible()
        banner(page).get_by_role("button", name=customize).click()  # the purposes, toggles and recipients too
        assert_no_violations(page)
        with recording(page):
            banner(page).get_by_role("button", name=reject).click()
        page.get_by_role("button", name=settings).click()
        expect(page.get_by_role("dialog")).to_have_attribute("aria-modal", "true")
        page.get_by_role("dialog").locator("[data-purpose=cross_border_transfer]").click()  # the separate step
        assert_no_violations(page)
    finally:
        context.close()


def focused_text(page):
    return page.evaluate("() => document.activeElement.shadowRoot?.activeElement?.textContent ?? null")


def test_keyboard_alone_reaches_and_makes_every_choice(page, service, host, consent):
    open_host(page, service, host, lang="en")
    expect(banner(page)).to_be_visible()
    assert focused_text(page) == "Accept all"  # focus moved into the banner
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused_text(page) == "Customize"
    page.keyboard.press("Enter")  # the list is lazy code: focus moves to its first toggle once it is there
    page.wait_for_function("() => document.activeElement.shadowRoot.activeElement.dataset.purpose === 'analytics'")
    page.keyboard.press("Space")
    for _ in range(20):  # on through the purposes to the save button
        if focused_text(page) == "Save my choices":
            break
        page.keyboard.press("Tab")
    with recording(page):
        page.keyboard.press("Enter")
    [event] = recorded(consent)
    assert event["choices"]["analytics"] is True and event["choices"]["advertising"] is False
    assert focused_text(page) == "Privacy settings"  # focus is not dropped when the banner goes


@pytest.mark.parametrize(("motion", "animation"), [("reduce", "none"), ("no-preference", "rise")])
def test_the_slide_in_plays_only_without_reduced_motion(browser, service, host, motion, animation):
    # The animation the banner's box is given, not the ones still running: a 0.2 s slide may be over
    # by the time a busy machine asks.
    context = browser.new_context(reduced_motion=motion)
    try:
        page = context.new_page()
        open_host(page, service, host, lang="en")
        expect(banner(page)).to_be_visible()
        assert page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-consent-widget]').shadowRoot"
            ".querySelector('.box')).animationName"
        ) == animation
    finally:
        context.close()
