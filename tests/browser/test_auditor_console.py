"""The auditor console in a real browser, in both languages: sign in, search a subject, open a receipt, see it valid."""
import pytest
from playwright.sync_api import expect

from tests.audit_support import make_auditor

CASES = [
    # (lang, sign-in button, search button, subject field, the verdicts)
    ("en", "Sign in", "Search", "Subject (the site's user id)", ("valid", "verified")),
    ("zh-CN", "登录", "搜索", "主体（站点自己的用户 ID）", ("有效", "已验证")),
]


@pytest.mark.parametrize(("lang", "sign_in", "search", "subject_field", "verdicts"), CASES, ids=[c[0] for c in CASES])
def test_auditor_finds_a_subjects_receipt_and_sees_it_valid(app, page, service, consent, lang, sign_in, search,
                                                             subject_field, verdicts):
    recorded = consent.post(**consent.user("customer-8812"), choices={"necessary": True, "analytics": True}).get_json()
    consent.post(**consent.user("someone-else"))
    _token, password = make_auditor(app, ["shop"])

    page.goto(f"{service.url}/audit/?lang={lang}")  # signed out: sent to the sign-in form
    page.locator("input[name=email]").fill("auditor@example.org")
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name=sign_in).click()

    page.get_by_label(subject_field).fill("customer-8812")
    page.locator("form.search").get_by_role("button", name=search).click()
    links = page.locator("ol.timeline a")
    expect(links).to_have_count(1)  # waits for the results page: count() alone could read the form's page
    links.first.click()

    assert recorded["receipt_id"] in page.locator("h1").inner_text()
    assert page.locator("[data-check=jws] strong").inner_text() == verdicts[0]
    assert page.locator("[data-check=hmac] strong").inner_text() == verdicts[0]
    assert page.locator("[data-check=chain] strong").inner_text() == verdicts[1]
    assert page.locator("html").get_attribute("lang") == lang
