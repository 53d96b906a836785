"""What the widget does to and for its host page: browser signals, gated scripts, strict CSP, bad networks."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, host_html, open_host, recorded, recording, wait_for_decision
from tests.conftest import import_site, load_site_config

TRACKING = ("analytics", "advertising", "personalized_recommendation")
SIGNAL_NOTICE = "Your browser asked sites not to track you"

# ---- Browser signals ----------------------------------------------------------------------------

SET_SIGNALS = """
  Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => %(dnt)s});
  Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => %(gpc)s});
"""

pytestmark = SQLITE_ONLY


@pytest.mark.parametrize(
    ("headers", "dnt", "gpc"),
    [({"DNT": "1"}, "'1'", "false"), ({"Sec-GPC": "1"}, "null", "true"), ({"DNT": "1", "Sec-GPC": "1"}, "'1'", "true")],
    ids=["dnt", "gpc", "both"],
)
def test_browser_signals_keep_tracking_off_are_shown_and_recorded(browser, service, host, consent, headers, dnt, gpc):
    context = browser.new_context(extra_http_headers=headers)
    context.add_init_script(SET_SIGNALS % {"dnt": dnt, "gpc": gpc})
    try:
        page = context.new_page()
        open_host(page, service, host, lang="en")
        expect(banner(page).get_by_role("note")).to_contain_text(SIGNAL_NOTICE)
        with recording(page) as posted:
            banner(page).get_by_role("button", name="Accept all").click()
        assert posted.value.status == 201
        [event] = recorded(consent)
        assert not any(event["choices"][purpose] for purpose in TRACKING)
        assert event["choices"]["marketing_sms"] is True
        expected = {"dnt": "DNT" in headers, "gpc": "Sec-GPC" in headers}
        assert event["signals"] == expected
        assert posted.value.json()["receipt"]["signals"] == expected
    finally:
        context.close()


def test_a_tracking_purpose_can_still_be_turned_on_by_hand_under_a_signal(browser, service, host, consent):
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script(SET_SIGNALS % {"dnt": "null", "gpc": "true"})
    try:
        page = context.new_page()
        open_host(page, service, host, lang="en")
        banner(page).get_by_role("button", name="Customize").click()
        banner(page).get_by_label("Analytics").check()
        with recording(page):
            banner(page).get_by_role("button", name="Save my choices").click()
        [event] = recorded(consent)
        assert event["choices"]["analytics"] is True and event["signals"]["gpc"] is True
    finally:
        context.close()


# ---- Script gating ------------------------------------------------------------------------------

GATED = (
    '<script type="text/plain" data-consent="analytics" src="/analytics.js"></script>'
    '<script type="text/plain" data-consent="advertising">window.adsRan = (window.adsRan || 0) + 1;</script>'
)


@pytest.fixture
def gated_page(page, service, host):
    host.page("/analytics.js", "window.analyticsRan = (window.analyticsRan || 0) + 1;", mimetype="text/javascript")
    open_host(page, service, host, lang="en", body=GATED)
    return page


def ran(page):
    return page.evaluate("() => [window.analyticsRan || 0, window.adsRan || 0]")


def test_gated_scripts_run_only_once_granted_and_not_after_withdrawal(gated_page):
    page = gated_page
    expect(banner(page)).to_be_visible()
    assert ran(page) == [0, 0]
    banner(page).get_by_role("button", name="Customize").click()
    banner(page).get_by_label("Analytics").check()
    with recording(page):
        banner(page).get_by_role("button", name="Save my choices").click()
    page.wait_for_function("() => window.analyticsRan === 1")
    assert ran(page) == [1, 0]

    page.reload()  # granted: runs on every page load, exactly once
    page.wait_for_function("() => window.analyticsRan === 1")
    assert ran(page) == [1, 0]

    page.get_by_role("button", name="Privacy settings").click()
    with recording(page):
        page.get_by_role("dialog").get_by_label("Analytics").uncheck()
    page.reload()
    wait_for_decision(page)
    expect(page.get_by_role("button", name="Privacy settings")).to_be_visible()
    assert ran(page) == [0, 0]


def test_single_page_app_scripts_added_later_are_gated_too(gated_page):
    page = gated_page
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.analyticsRan === 1 && window.adsRan === 1")
    page.evaluate(
        """() => {
          const later = document.createElement('script');
          later.type = 'text/plain';
          later.dataset.consent = 'advertising analytics';
          later.text = 'window.routeScriptRan = true;';
          document.querySelector('main').replaceChildren(later);
        }"""
    )
    page.wait_for_function("() => window.routeScriptRan === true")
    assert ran(page) == [1, 1]
    # A router that rebuilds <body> takes the widget with it; the next call brings it back.
    page.evaluate("() => { document.body.replaceChildren(); window.Consent.showPreferences(); }")
    expect(page.get_by_role("dialog", name="Privacy preferences")).to_be_visible()


# ---- Strict Content-Security-Policy -------------------------------------------------------------

COLLECT_VIOLATIONS = """
  window.cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event) => window.cspViolations.push(event.violatedDirective));
"""


def test_works_on_a_host_page_with_a_strict_csp(page, service, host, consent):
    policy = f"default-src 'self'; script-src {service.url}; connect-src {service.url}; style-src 'self'"
    host.page("/", host_html(service, lang="en"), headers={"Content-Security-Policy": policy})
    host.page("/favicon.ico", "", mimetype="image/x-icon")  # so that every console error counts
    console_errors = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.add_init_script(COLLECT_VIOLATIONS)
    page.goto(host.url + "/")
    expect(banner(page)).to_be_visible()
    # The constructed stylesheet applied: the banner is laid out as a fixed box, not as bare text.
    assert banner(page).evaluate("node => getComputedStyle(node).position") == "fixed"
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Accept all").click()
    assert posted.value.status == 201
    page.get_by_role("button", name="Privacy settings").click()
    expect(page.get_by_role("dialog", name="Privacy preferences")).to_be_visible()
    assert page.evaluate("() => window.cspViolations") == [] and console_errors == []
    assert len(recorded(consent)) == 1


# ---- Unreachable service ------------------------------------------------------------------------


def test_offline_choice_applies_at_once_and_is_sent_once_when_back_online(page, service, host, consent, context):
    open_host(page, service, host, lang="en")
    expect(banner(page)).to_be_visible()
    context.set_offline(True)
    banner(page).get_by_role("button", name="Reject all").click()
    expect(banner(page)).to_have_count(0)
    assert page.evaluate("() => window.Consent.get()")["pending"] is True
    assert recorded(consent) == []
    with recording(page) as posted:
        context.set_offline(False)
    assert posted.value.status == 201
    page.wait_for_function("() => window.Consent.get().pending === false")
    assert len(recorded(consent)) == 1


def test_a_retry_after_a_lost_answer_records_nothing_twice(page, service, host, consent):
    def lose_the_answer(route):
        route.fetch()  # the service records the decision...
        route.abort()  # ...but the page never hears back

    open_host(page, service, host, lang="en")
    page.route("**/api/v1/consents", lose_the_answer, times=1)
    with recording(page) as retried:
        banner(page).get_by_role("button", name="Accept all").click()
    assert retried.value.status == 200  # the same idempotency key: the first receipt, nothing new
    [event] = recorded(consent)
    page.wait_for_function(f"() => window.Consent.get().receiptId === {event['receipt_id']!r}")


def test_a_pending_choice_is_sent_after_a_reload(page, service, host, consent):
    open_host(page, service, host, lang="en")
    page.route("**/api/v1/consents", lambda route: route.abort())
    banner(page).get_by_role("button", name="Reject all").click()
    expect(page.get_by_role("button", name="Privacy settings")).to_be_visible()
    page.unroute("**/api/v1/consents")
    with recording(page) as posted:
        page.reload()
    assert posted.value.status == 201
    [event] = recorded(consent)
    assert event["action"] == "reject_all"


# ---- Isolation ----------------------------------------------------------------------------------

HOSTILE_STYLES = "<style>* { color: red !important; font-size: 40px; } button { display: none !important; }</style>"
GLOBALS_BEFORE = "window.globalsBefore = new Set(Object.getOwnPropertyNames(window));"


def test_no_css_or_global_names_cross_the_shadow_boundary(page, service, host):
    page.add_init_script(GLOBALS_BEFORE)
    open_host(page, service, host, lang="en", head=HOSTILE_STYLES, body='<p class="box banner">host text</p>')
    accept = banner(page).get_by_role("button", name="Accept all")
    expect(accept).to_be_visible()  # the host's `button { display: none }` does not reach in
    assert accept.evaluate("node => getComputedStyle(node).color") != "rgb(255, 0, 0)"
    # ...and the widget's `.box` / `.banner` rules do not reach out.
    assert page.locator("main p.box").evaluate("node => getComputedStyle(node).position") == "static"
    added = page.evaluate("() => Object.getOwnPropertyNames(window).filter((name) => !globalsBefore.has(name))")
    assert added == ["globalsBefore", "Consent"]  # the test's own, and the widget's one


def test_site_texts_are_rendered_as_text_never_as_html(page, service, host, app):
    config = load_site_config(allowed_origins=[host.url])
    config["policy"] = {**config["policy"], "version": "v2"}
    config["texts"] = {
        **config["texts"], "intro": {"zh-CN": "介绍", "en": '<img src="x" onerror="window.pwned = 1">Intro'}
    }
    config["purposes"][1]["title"] = {"zh-CN": "统计", "en": "<b>Analytics</b>"}
    import_site(app, config)
    open_host(page, service, host, lang="en")
    expect(banner(page).get_by_text('<img src="x" onerror="window.pwned = 1">Intro')).to_be_visible()
    banner(page).get_by_role("button", name="Customize").click()
    expect(banner(page).get_by_role("checkbox", name="<b>Analytics</b>")).to_be_visible()
    assert banner(page).locator("img, b").count() == 0
    assert page.evaluate("() => window.pwned") is None
