"""The vertical slice in a real browser: a foreign site embeds the tag, the visitor decides, it sticks."""
import json

import pytest

from tests.browser.conftest import host_html

OPTIONAL = ["analytics", "advertising", "marketing_sms", "personalized_recommendation", "cross_border_transfer"]


def banner(page):
    return page.get_by_role("dialog")


@pytest.mark.parametrize(
    ("lang", "title", "reject"),
    [("zh-CN", "您的隐私选择", "全部拒绝"), ("en", "Your privacy choices", "Reject all")],
)
def test_banner_speaks_the_page_language(page, service, host, lang, title, reject):
    host.page("/", host_html(service, lang=lang))
    page.goto(host.url + "/")
    assert banner(page).get_by_role("heading").inner_text() == title
    for name in (reject, ):
        assert banner(page).get_by_role("button", name=name).is_visible()


def test_reject_all_is_stored_once_and_not_asked_again(page, service, host, consent):
    host.page("/", host_html(service, lang="zh-CN"))
    page.goto(host.url + "/")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/consents") and r.request.method == "POST") as posted:
        banner(page).get_by_role("button", name="全部拒绝").click()
    assert posted.value.status == 201
    assert banner(page).count() == 0
    # The widget stores the receipt id once it has read the answer; reloading earlier would race it.
    page.wait_for_function("() => window.Consent.get() && window.Consent.get().receiptId")

    page.reload()
    page.wait_for_function("() => window.Consent && window.Consent.get() !== null")
    assert banner(page).count() == 0

    [event] = consent.stored_events()
    document = json.loads(event.document)
    assert document["choices"] == {"necessary": True, **{purpose: False for purpose in OPTIONAL}}
    assert document["action"] == "reject_all" and document["language"] == "zh-CN"
    assert page.evaluate("() => window.Consent.get().receiptId") == event.receipt.receipt_id


def test_customized_choice_is_recorded(page, service, host, consent):
    host.page("/", host_html(service, lang="en"))
    page.goto(host.url + "/")
    banner(page).get_by_role("button", name="Customize").click()
    banner(page).get_by_label("Analytics").check()
    banner(page).get_by_label("Marketing SMS").check()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/consents")) as posted:
        banner(page).get_by_role("button", name="Save my choices").click()
    assert posted.value.status == 201
    [event] = consent.stored_events()
    assert json.loads(event.document)["choices"] == {
        "necessary": True, "analytics": True, "advertising": False, "marketing_sms": True,
        "personalized_recommendation": False, "cross_border_transfer": False,
    }
