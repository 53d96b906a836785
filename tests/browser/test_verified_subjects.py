"""Decisions in the name of a site's user: bound only with the subject token its backend made.

The host page names its user on the tag (or with Consent.setSubject) together with the token; the
site's backend then reads the user's consents with its API key, as README's "Site backend API" says.
"""
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recorded, recording, wait_for_decision
from tests.conftest import bearer, import_site, load_site_config, subject_token

pytestmark = SQLITE_ONLY

USER = "user-42"
FORGED = "cst1.abcd1234.4102444800." + "A" * 43
# Counts every time the widget shows a dialog in its (open) Shadow DOM, however briefly.
COUNT_DIALOGS = """
  window.dialogsShown = 0;
  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attachShadow.call(this, init);
    new MutationObserver(() => { if (root.querySelector('[role=dialog]')) window.dialogsShown += 1; })
      .observe(root, { childList: true, subtree: true });
    return root;
  };
"""


def user_tag(token, subject=USER):
    return f'data-subject="{subject}" data-subject-token="{token}"'


def backend_view(client, key, subject=USER):
    """What the site's backend learns about its user: GET .../subjects/<id>/consents with its API key."""
    response = client.get(f"/api/v1/sites/shop/subjects/{subject}/consents", headers=bearer(key))
    assert response.status_code == 200
    return response.get_json()


def stored_cookie(context):
    [cookie] = [cookie for cookie in context.cookies() if cookie["name"] == "consent_shop"]
    return cookie


def wait_for_receipt(page):
    page.wait_for_function("() => window.Consent.get() && window.Consent.get().receiptId !== null")
    return page.evaluate("() => window.Consent.get()")


def preferences(page):
    return page.get_by_role("dialog", name="Privacy preferences")


# ---- Binding a decision ---------------------------------------------------------------------------


def test_a_decision_made_with_the_users_token_is_bound_to_them(page, service, host, app, client, shop_key, consent,
                                                               context):
    open_host(page, service, host, lang="en", tag_attributes=user_tag(subject_token(app, USER)))
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Accept all").click()
    assert posted.value.status == 201
    assert posted.value.json()["subject_verified"] is True and posted.value.json()["subject_problem"] is None
    sent = posted.value.request.post_data_json
    # The visitor proves themselves with a random credential; the old guessable visitor id is gone.
    assert "visitor_id" not in sent and re.fullmatch("[0-9a-f]{32}", sent["visitor_secret"])
    [event] = recorded(consent)
    assert event["subject_verified"] is True and event["identified_by"] == "subject_token"
    assert sent["visitor_secret"] not in str(event)  # only its keyed hash is kept

    user = backend_view(client, shop_key)
    assert user["has_record"] is True and user["verified"] is True
    assert user["purposes"]["analytics"]["granted"] is True
    assert user["purposes"]["analytics"]["receipt_id"] == event["receipt_id"]
    decision = wait_for_receipt(page)
    assert decision["receiptId"] == event["receipt_id"]
    assert f'%22u%22%3A%22{USER}%22' in stored_cookie(context)["value"]  # the cookie knows whom it is bound to


@pytest.mark.parametrize(
    ("make_token", "problem"),
    [
        (lambda app: subject_token(app, "user-7"), "subject_token_invalid"),  # another user's token
        (lambda app: FORGED, "subject_token_invalid"),
        (lambda app: subject_token(app, USER, expires_in=-60), "subject_token_expired"),
    ],
    ids=["another-users-token", "forged", "expired"],
)
def test_without_a_valid_token_the_decision_is_the_visitors_only(page, service, host, app, client, shop_key, consent,
                                                                 make_token, problem):
    warnings = []
    page.on("console", lambda message: message.type == "warning" and warnings.append(message.text))
    open_host(page, service, host, lang="en", tag_attributes=user_tag(make_token(app)))
    expect(banner(page)).to_be_visible()  # nothing proven, nothing applied from the service
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Accept all").click()
    assert posted.value.status == 201  # still recorded, for the anonymous visitor
    assert posted.value.json()["subject_verified"] is False and posted.value.json()["subject_problem"] == problem
    [event] = recorded(consent)
    assert event["subject_verified"] is False and event["subject_ref"] is None
    assert backend_view(client, shop_key)["has_record"] is False
    wait_for_receipt(page)
    assert any(problem in warning for warning in warnings)  # the page's developers hear why
    page.reload()
    wait_for_decision(page)
    expect(page.get_by_role("button", name="Privacy settings")).to_be_visible()
    assert page.evaluate("() => window.Consent.get().pending") is False and len(recorded(consent)) == 1


# ---- Signing in after deciding --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["setSubject", "reload-with-tag"])
def test_signing_in_after_an_anonymous_decision_links_it_to_the_user(page, service, host, app, client, shop_key,
                                                                     consent, how):
    open_host(page, service, host, lang="en")
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    wait_for_receipt(page)
    assert backend_view(client, shop_key)["has_record"] is False

    token = subject_token(app, USER)
    with recording(page) as posted:
        if how == "setSubject":
            page.evaluate("([subject, token]) => window.Consent.setSubject(subject, token)", [USER, token])
        else:
            open_host(page, service, host, lang="en", tag_attributes=user_tag(token))
    assert posted.value.status == 201 and posted.value.json()["subject_verified"] is True
    anonymous, link = recorded(consent)
    assert link["collection_method"] == "link" and link["linked_receipt_id"] == anonymous["receipt_id"]
    assert link["receipt_id"] != anonymous["receipt_id"] and link["subject_verified"] is True
    assert link["choices"] == anonymous["choices"] and link["policy_version"] == anonymous["policy_version"]
    assert link["decided_at"] == anonymous["decided_at"]  # the user's decision dates from when it was made

    user = backend_view(client, shop_key)
    assert user["verified"] is True and user["purposes"]["analytics"]["granted"] is True
    assert user["purposes"]["analytics"]["receipt_id"] == link["receipt_id"]
    page.wait_for_function(f"() => window.Consent.get().receiptId === {link['receipt_id']!r}")

    # Bound now: the next page load links nothing again.
    open_host(page, service, host, lang="en", tag_attributes=user_tag(token))
    expect(page.get_by_role("button", name="Privacy settings")).to_be_visible()
    assert page.evaluate("() => window.Consent.get().pending") is False and len(recorded(consent)) == 2


# ---- Offline, with a token that expires meanwhile ---------------------------------------------------


def test_a_withdrawal_queued_offline_is_bound_after_its_token_expired(page, service, host, app, client, shop_key,
                                                                      consent, context):
    token = subject_token(app, USER, expires_in=3)
    expires = int(token.split(".")[2])
    open_host(page, service, host, lang="en", tag_attributes=user_tag(token))
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    wait_for_receipt(page)
    assert backend_view(client, shop_key)["purposes"]["analytics"]["granted"] is True

    context.set_offline(True)
    page.get_by_role("button", name="Privacy settings").click()
    preferences(page).get_by_role("button", name="Withdraw all").click()
    assert page.evaluate("() => window.Consent.get()")["pending"] is True
    while time.time() <= expires + 1:  # the page's token expires while the withdrawal waits
        time.sleep(0.25)
    with recording(page) as posted:
        context.set_offline(False)
    assert posted.value.status == 201 and posted.value.json()["subject_verified"] is True
    assert posted.value.request.post_data_json["subject_token"] == token
    granted, withdrawn = recorded(consent)
    assert withdrawn["action"] == "reject_all" and withdrawn["subject_verified"] is True
    user = backend_view(client, shop_key)
    assert user["verified"] is True and user["purposes"]["analytics"]["granted"] is False
    assert user["purposes"]["analytics"]["receipt_id"] == withdrawn["receipt_id"]


# ---- A second device -------------------------------------------------------------------------------


def test_a_second_device_applies_the_users_decision_without_asking(browser, page, service, host, app, consent):
    token = subject_token(app, USER)
    page.add_init_script(COUNT_DIALOGS)
    open_host(page, service, host, lang="en", tag_attributes=user_tag(token))
    banner(page).get_by_role("button", name="Customize").click()
    assert page.evaluate("() => window.dialogsShown") > 0  # the first device is asked, and the count sees it
    banner(page).get_by_label("Analytics").check()
    banner(page).get_by_label("Marketing SMS").check()
    with recording(page):
        banner(page).get_by_role("button", name="Save my choices").click()
    first = wait_for_receipt(page)

    other = browser.new_context()  # another browser: no cookie, no storage
    other.set_default_timeout(10_000)
    try:
        second = other.new_page()
        second.add_init_script(COUNT_DIALOGS)
        with second.expect_response(lambda response: response.url.endswith("/subject-decision")) as answered:
            second.goto(host.url + "/")
        assert answered.value.json()["decision"]["receipt_id"] == first["receiptId"]
        wait_for_decision(second)
        expect(second.get_by_role("button", name="Privacy settings")).to_be_visible()
        applied = second.evaluate("() => window.Consent.get()")
        assert applied["choices"] == first["choices"] and applied["receiptId"] == first["receiptId"]
        assert applied["pending"] is False
        assert second.evaluate("() => window.dialogsShown") == 0  # no banner, not even for a moment
        assert len(recorded(consent)) == 1  # nothing new recorded

        # The user's history opens from the new device too.
        second.get_by_role("button", name="Privacy settings").click()
        with other.expect_page() as opened:
            preferences(second).get_by_role("link", name="My consent history").click()
        history = opened.value
        expect(history.get_by_role("heading", name="My data on Example Shop")).to_be_visible()
        expect(history.get_by_role("link", name=first["receiptId"][:8])).to_be_visible()
    finally:
        other.close()


def test_a_newer_decision_made_elsewhere_replaces_this_devices(browser, page, service, host, app, consent):
    token = subject_token(app, USER)
    open_host(page, service, host, lang="en", tag_attributes=user_tag(token))
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    wait_for_receipt(page)
    other = browser.new_context()
    try:
        second = other.new_page()
        open_host(second, service, host, lang="en", tag_attributes=user_tag(token))
        second.get_by_role("button", name="Privacy settings").click()
        with recording(second):
            preferences(second).get_by_role("button", name="Withdraw all").click()
        withdrawn = wait_for_receipt(second)
    finally:
        other.close()
    page.reload()
    page.wait_for_function(f"() => window.Consent.get().receiptId === {withdrawn['receiptId']!r}")
    assert page.evaluate("() => window.Consent.get().choices") == withdrawn["choices"]
    assert len(recorded(consent)) == 2


# ---- What the widget does with a refusal -------------------------------------------------------------


def publish_v2(app, host, title=None):
    config = load_site_config(allowed_origins=[host.url])
    changes = {"zh-CN": "新增境外提供。", "en": "Added transfer abroad."}
    config["policy"] = {**config["policy"], "version": "v2", "changes": changes}
    if title:
        config["texts"]["title"]["en"] = title
    import_site(app, config)


def test_a_decision_under_a_replaced_policy_asks_again(page, service, host, app, consent):
    open_host(page, service, host, lang="en")
    expect(banner(page)).to_be_visible()
    page.wait_for_load_state("networkidle")  # the lazy part and its full config are in
    publish_v2(app, host)  # published while the banner was open
    with recording(page) as refused:
        banner(page).get_by_role("button", name="Accept all").click()
    assert refused.value.status == 409
    assert refused.value.json()["action"] == "ask_again"
    assert refused.value.json()["type"].endswith("/api/v1/problems/stale-policy-version")
    expect(banner(page).get_by_text("Our privacy policy has changed")).to_contain_text("Added transfer abroad.")
    assert page.evaluate("() => window.Consent.get().pending") is False and recorded(consent) == []
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Accept all").click()
    assert posted.value.status == 201
    [event] = recorded(consent)
    assert event["policy_version"] == "v2"


def test_a_version_published_before_the_full_config_arrives_is_shown_before_it_is_recorded(
        page, service, host, app, consent):
    held = []
    page.route(re.compile(r".*/config\?lang=en$"), lambda route: held.append(route))  # the full config waits
    open_host(page, service, host, lang="en")
    expect(banner(page).get_by_role("heading")).to_have_text("Your privacy choices")
    while not held:
        page.wait_for_timeout(50)
    publish_v2(app, host, title="Your privacy choices, v2")
    held[0].continue_()
    # The banner is shown again, for v2: a decision is never recorded under a version nobody saw.
    expect(banner(page).get_by_role("heading")).to_have_text("Your privacy choices, v2")
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Accept all").click()
    assert posted.value.status == 201
    assert recorded(consent)[0]["policy_version"] == "v2"


def test_a_grant_too_old_to_record_asks_again(page, service, host, consent):
    page.clock.install(time=datetime.now(UTC) - timedelta(days=40))  # the visitor's clock is far behind
    open_host(page, service, host, lang="en")
    with recording(page) as refused:
        banner(page).get_by_role("button", name="Accept all").click()
    assert refused.value.status == 422 and refused.value.json()["action"] == "ask_again"
    expect(banner(page).get_by_role("note")).to_have_text(
        "Your last choice could not be recorded. Please choose again.")
    page.reload()  # until the visitor chooses again, every page asks
    expect(banner(page)).to_be_visible()
    assert recorded(consent) == []
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Reject all").click()  # granting nothing: its time is ours
    assert posted.value.status == 201
    assert recorded(consent)[0]["action"] == "reject_all"


def problem(status, slug, action):
    return {"status": status, "content_type": "application/problem+json",
            "json": {"type": f"http://service/api/v1/problems/{slug}", "title": slug, "status": status,
                     "detail": f"refused: {slug}", "action": action}}


@pytest.mark.parametrize(
    "answer",
    [problem(409, "idempotency-key-reused", "drop"), problem(422, "invalid-request", "drop"),
     {"status": 400, "content_type": "text/html", "body": "<h1>Bad request</h1>"}],
    ids=["idempotency-key-reused", "invalid-request", "not-json"],
)
def test_a_refusal_that_can_never_succeed_is_dropped_and_reported(page, service, host, consent, answer):
    warnings = []
    page.on("console", lambda message: message.type == "warning" and warnings.append(message.text))
    open_host(page, service, host, lang="en")
    page.route("**/api/v1/consents", lambda route: route.fulfill(**answer))
    with recording(page) as refused:
        banner(page).get_by_role("button", name="Reject all").click()
    assert refused.value.status == answer["status"]
    page.wait_for_function("() => window.Consent.get().pending === false")
    assert any(f"({answer['status']})" in warning for warning in warnings)
    expect(page.get_by_role("button", name="Privacy settings")).to_be_visible()  # applied here, not asked again
    page.unroute("**/api/v1/consents")
    page.reload()
    wait_for_decision(page)
    assert page.evaluate("() => window.Consent.get().pending") is False and recorded(consent) == []


@pytest.mark.parametrize(
    "answer",
    [{"status": 502, "content_type": "text/html", "body": "<h1>Bad gateway</h1>"},
     problem(429, "rate-limited", "retry")],
    ids=["bad-gateway-html", "rate-limited"],
)
def test_a_refusal_worth_retrying_keeps_the_record(page, service, host, consent, answer):
    open_host(page, service, host, lang="en")
    page.route("**/api/v1/consents", lambda route: route.fulfill(**answer), times=1)
    with recording(page) as refused:
        banner(page).get_by_role("button", name="Reject all").click()
    assert refused.value.status == answer["status"]
    with recording(page) as retried:
        pass  # the backoff's first retry, a second later
    assert retried.value.status == 201
    page.wait_for_function("() => window.Consent.get().pending === false")
    assert len(recorded(consent)) == 1
