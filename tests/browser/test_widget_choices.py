"""Each purpose, language and step of the widget, as a visitor of a foreign host page uses it."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from consent.storage import db
from consent.storage.models import Subject
from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recorded, recording
from tests.conftest import import_site, load_site_config, subject_token

OPTIONAL = ["analytics", "advertising", "marketing_sms", "personalized_recommendation", "cross_border_transfer"]
NOTHING = {"necessary": True, **{purpose: False for purpose in OPTIONAL}}

pytestmark = SQLITE_ONLY


@pytest.mark.parametrize(
    ("locale", "heading"), [("en-US", "Your privacy choices"), ("zh-CN", "您的隐私选择")]
)
def test_without_a_page_language_the_browser_language_decides(browser, service, host, locale, heading):
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        open_host(page, service, host, lang=None)
        assert banner(page).get_by_role("heading", level=2).inner_text() == heading
    finally:
        context.close()


def test_language_switch_in_the_banner(page, service, host, consent):
    open_host(page, service, host, lang="zh-CN")
    banner(page).get_by_role("button", name="English").click()
    expect(banner(page).get_by_role("heading", level=2)).to_have_text("Your privacy choices")
    expect(banner(page)).to_have_attribute("lang", "en")
    banner(page).get_by_role("button", name="中文").click()
    expect(banner(page).get_by_role("heading", level=2)).to_have_text("您的隐私选择")
    banner(page).get_by_role("button", name="English").click()
    with recording(page):
        banner(page).get_by_role("button", name="Reject all").click()
    assert recorded(consent)[0]["language"] == "en"


@pytest.mark.parametrize(
    ("purpose", "label"),
    [
        ("analytics", "Analytics"),
        ("advertising", "Advertising"),
        ("marketing_sms", "Marketing SMS"),
        ("personalized_recommendation", "Personalized recommendations"),
    ],
)
def test_each_purpose_is_its_own_toggle_off_by_default_and_recorded(page, service, host, consent, purpose, label):
    open_host(page, service, host, lang="en")
    banner(page).get_by_role("button", name="Customize").click()
    for other in banner(page).locator("input[data-purpose]").all():
        assert other.is_checked() == (other.get_attribute("data-purpose") == "necessary")
    banner(page).get_by_label(label).check()
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Save my choices").click()
    assert posted.value.status == 201
    [event] = recorded(consent)
    assert event["choices"] == {**NOTHING, purpose: True}
    assert event["action"] == "custom" and event["collection_method"] == "banner"


def test_accept_all_never_grants_a_sensitive_purpose(page, service, host, consent):
    open_host(page, service, host, lang="en")
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    [event] = recorded(consent)
    assert event["choices"] == {**{purpose: True for purpose in NOTHING}, "cross_border_transfer": False}
    assert event["separate_consents"] == []


def test_sensitive_purpose_needs_its_own_step_naming_recipients_first(page, service, host, consent):
    open_host(page, service, host, lang="en")
    banner(page).get_by_role("button", name="Customize").click()
    recipient = "Example Support Pte. Ltd. (SG) · Handling support tickets · privacy@support.example"
    expect(banner(page).get_by_text(recipient)).to_be_visible()  # before any consent

    toggle = banner(page).get_by_role("checkbox", name="Transfer abroad")
    toggle.click()
    assert not toggle.is_checked()  # the click only opened the separate step
    step = banner(page).get_by_role("group", name="Needs your separate consent: Transfer abroad")
    step.get_by_role("button", name="Cancel").click()
    assert not toggle.is_checked() and step.is_hidden()

    toggle.click()
    step.get_by_role("button", name="I agree to this purpose").click()
    assert toggle.is_checked()
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Save my choices").click()
    assert posted.value.status == 201
    [event] = recorded(consent)
    assert event["choices"] == {**NOTHING, "cross_border_transfer": True}
    assert event["separate_consents"] == ["cross_border_transfer"]


@pytest.mark.parametrize("how", ["data-subject", "setSubject"])
def test_marketing_sms_is_bound_to_the_sites_subject(page, service, host, consent, app, how):
    token = subject_token(app, "user-42")
    if how == "data-subject":
        open_host(page, service, host, lang="en", tag_attributes=f'data-subject="user-42" data-subject-token="{token}"')
    else:
        open_host(page, service, host, lang="en")
        page.evaluate("([subject, token]) => window.Consent.setSubject(subject, token)", ["user-42", token])
    banner(page).get_by_role("button", name="Customize").click()
    banner(page).get_by_label("Marketing SMS").check()
    with recording(page):
        banner(page).get_by_role("button", name="Save my choices").click()
    [event] = recorded(consent)
    with app.app_context():
        subject = db.get_session().scalars(select(Subject)).one()
    assert subject.subject_id == "user-42" and event["subject_ref"] == subject.pseudonym
    assert event["subject_verified"] is True
    assert event["choices"]["marketing_sms"] is True


@pytest.mark.parametrize(("button", "personalized"), [("Reject all", False), ("Accept all", True)])
def test_page_learns_whether_to_personalize(page, service, host, button, personalized):
    open_host(page, service, host, lang="en")
    page.evaluate("() => { window.seen = []; window.Consent.on('change', (detail) => window.seen.push(detail)); }")
    with recording(page):
        banner(page).get_by_role("button", name=button).click()
    assert page.evaluate("() => window.Consent.get().personalized") is personalized
    # Listeners hear the decision at once (applied locally), then again with its receipt.
    page.wait_for_function("() => window.seen.length === 2")
    first, second = page.evaluate("() => window.seen")
    assert first["personalized"] is personalized and first["receiptId"] is None and first["pending"] is True
    assert second["receiptId"] and second["pending"] is False


def test_visitors_own_do_not_track_turns_tracking_off_and_is_recorded(page, service, host, consent):
    open_host(page, service, host, lang="en")
    banner(page).get_by_role("button", name="Customize").click()
    banner(page).get_by_label("Analytics").check()
    banner(page).get_by_label("Marketing SMS").check()
    banner(page).get_by_label("Do not track me").check()
    for label in ("Analytics", "Advertising", "Personalized recommendations"):
        assert not banner(page).get_by_label(label).is_checked() and banner(page).get_by_label(label).is_disabled()
    with recording(page) as posted:
        banner(page).get_by_role("button", name="Save my choices").click()
    assert posted.value.status == 201
    [event] = recorded(consent)
    assert event["do_not_track"] is True
    assert event["choices"] == {**NOTHING, "marketing_sms": True}
    assert page.evaluate("() => window.Consent.get().doNotTrack") is True


@pytest.fixture
def age_gated(app, host):
    import_site(app, load_site_config(allowed_origins=[host.url], age_gate=True))


def test_age_gate_under_14_records_a_pending_guardian_decision(page, service, host, consent, age_gated):
    open_host(page, service, host, lang="zh-CN")
    expect(banner(page).get_by_text("在选择之前：您是否已满 14 周岁？")).to_be_visible()
    with recording(page) as posted:
        banner(page).get_by_role("button", name="我未满 14 周岁").click()
    assert posted.value.status == 201
    expect(banner(page).get_by_text("需要取得父母或其他监护人的同意")).to_be_visible()
    [event] = recorded(consent)
    assert event["age_statement"] == "minor" and event["guardian_consent"] == "pending"
    assert event["action"] == "pending_guardian" and event["choices"] == NOTHING


def test_age_gate_adult_goes_on_to_the_choices(page, service, host, consent, age_gated):
    open_host(page, service, host, lang="en")
    banner(page).get_by_role("button", name="I am 14 or older").click()
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    [event] = recorded(consent)
    assert event["age_statement"] == "adult" and event["action"] == "accept_all"


def test_age_gate_comes_before_the_preference_centre_too(page, service, host, age_gated):
    open_host(page, service, host, lang="en")
    expect(banner(page).get_by_text("Before you choose: are you 14 or older?")).to_be_visible()
    page.evaluate("() => window.Consent.showPreferences()")
    expect(page.get_by_role("dialog", name="Privacy preferences")).to_have_count(0)
    expect(banner(page).get_by_text("Before you choose: are you 14 or older?")).to_be_visible()
