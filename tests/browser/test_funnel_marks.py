"""The banner's anonymous marks in a real browser: one when the banner shows, one when the visitor decides from it,
sent as beacons; none in device mode or when the site turned its banner statistics off."""
from sqlalchemy import select

from consent.storage import db
from consent.storage.operations import FunnelMark
from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recorded, recording, wait_for_decision
from tests.conftest import import_site, load_site_config

pytestmark = SQLITE_ONLY


def stored_marks(app):
    with app.app_context():
        return [(mark.language, mark.outcome, mark.seconds)
                for mark in db.get_session().scalars(select(FunnelMark).order_by(FunnelMark.id))]


def is_mark(response):
    return response.url.endswith("/api/v1/sites/shop/funnel") and response.request.method == "POST"


def marks_sent(page):
    """Every mark the page sends from now on, as the browser sent it."""
    sent = []
    page.on("request", lambda request: "/funnel" in request.url and sent.append(request))
    return sent


def test_the_banner_shown_and_accept_all_store_one_mark_each(page, service, host, app):
    sent = marks_sent(page)
    with page.expect_response(is_mark) as shown:
        open_host(page, service, host, lang="en")
    assert shown.value.status == 204 and stored_marks(app) == [("en", "shown", None)]
    request = sent[0]
    assert request.headers["content-type"].startswith("text/plain") and request.post_data_json == {
        "mark": "shown", "language": "en"}
    # Nothing of it is kept on the device.
    assert page.evaluate("() => [document.cookie, localStorage.length, sessionStorage.length]") == ["", 0, 0]
    page.wait_for_timeout(1100)  # so that a whole second passes between shown and decided
    with page.expect_response(is_mark) as decided:
        banner(page).get_by_role("button", name="Accept all").click()
    assert decided.value.status == 204
    [(_, _, _), (language, outcome, seconds)] = stored_marks(app)
    assert (language, outcome) == ("en", "accept_all") and 1 <= seconds <= 10
    assert sent[1].post_data_json == {"mark": "accept_all", "language": "en", "seconds": seconds}
    # The decision's own cookie and queue are the widget's: the marks added nothing to them.
    assert page.evaluate("() => Object.keys(localStorage).filter((key) => !key.startsWith('consent_shop'))") == []
    page.reload()
    wait_for_decision(page)
    page.wait_for_timeout(300)
    assert len(sent) == 2  # a returning visitor sees no banner: no mark


def test_reject_all_in_chinese_is_a_reject_all_mark(page, service, host, app):
    with page.expect_response(is_mark):
        open_host(page, service, host, lang="zh-CN")
    with page.expect_response(is_mark):
        banner(page).get_by_role("button", name="全部拒绝").click()
    assert [(language, outcome) for language, outcome, _ in stored_marks(app)] == [
        ("zh-CN", "shown"), ("zh-CN", "reject_all")]


def test_accept_all_under_a_browser_signal_is_the_custom_decision_the_log_records(browser, service, host, app,
                                                                                   consent):
    context = browser.new_context()
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});")
    try:
        page = context.new_page()
        with page.expect_response(is_mark):
            open_host(page, service, host, lang="en")
        with page.expect_response(is_mark), recording(page):
            banner(page).get_by_role("button", name="Accept all").click()
    finally:
        context.close()
    [event] = recorded(consent)  # tracking purposes stayed off: not "all", as the service classifies it too
    assert event["action"] == "custom" and [outcome for _, outcome, _ in stored_marks(app)] == ["shown", "custom"]


def decide_without_marks(page, service, host, app, **html_options):
    sent = marks_sent(page)
    open_host(page, service, host, lang="en", **html_options)
    banner(page).get_by_role("button", name="Accept all").click()
    wait_for_decision(page)
    page.wait_for_timeout(500)  # time enough for a beacon to leave, were there one
    assert sent == [] and stored_marks(app) == []


def test_device_mode_sends_no_mark(page, service, host, app):
    decide_without_marks(page, service, host, app, tag_attributes='data-mode="device"')


def test_a_site_with_banner_statistics_off_sends_no_mark(page, service, host, app):
    import_site(app, load_site_config(allowed_origins=["https://shop.example", host.url], banner_statistics=False))
    decide_without_marks(page, service, host, app)
