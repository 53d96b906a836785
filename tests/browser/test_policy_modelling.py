"""Issue 15 in the browser, on a foreign host page: a purpose asked at the moment of use (Consent.ask), a
purpose that requires another, purposes processed on a legal basis other than consent, and a site's age
threshold of 18. The site is examples/sites/model-cloud.yaml."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recorded, recording
from tests.conftest import bearer, create_api_key, import_site, subject_token
from tests.test_policy_modelling import model_cloud

pytestmark = SQLITE_ONLY


@pytest.fixture
def cloud(app, host):
    import_site(app, model_cloud(allowed_origins=[host.url], age_gate=False))


def preferences(page):
    return page.get_by_role("dialog", name="Privacy preferences")


def rejected_all(page, service, host):
    open_host(page, service, host, site="model-cloud", lang="en")
    with recording(page):
        banner(page).get_by_role("button", name="Reject all").click()
    page.wait_for_function("() => window.Consent.get().receiptId !== null")


def test_consent_ask_opens_the_separate_step_at_the_moment_of_use(page, service, host, consent, cloud):
    rejected_all(page, service, host)
    page.evaluate("() => { window.asked = window.Consent.ask('face_verification'); }")
    dialog = page.get_by_role("dialog", name="Face verification")
    expect(dialog.get_by_text("Asked only when you choose to verify your identity with your face")).to_be_visible()
    expect(dialog.get_by_text("Example Identity Verification Services Ltd.", exact=False)).to_be_visible()
    expect(dialog.get_by_text("Carries out the face comparison on our behalf", exact=False)).to_be_visible()
    with recording(page) as posted:
        dialog.get_by_role("button", name="I agree to this purpose").click()
    assert posted.value.status == 201
    answer = page.evaluate("() => window.asked")
    event = recorded(consent)[-1]
    assert answer == {"purpose": "face_verification", "granted": True, "receiptId": event["receipt_id"],
                      "pending": False}
    assert event["collection_method"] == "in_context" and event["separate_consents"] == ["face_verification"]
    assert event["choices"]["face_verification"] is True and event["choices"]["analytics"] is False
    expect(page.get_by_role("dialog")).to_have_count(0)
    # Asked again once granted, it answers at once; withdrawn in the preference centre like any other purpose.
    assert page.evaluate("() => window.Consent.ask('face_verification')")["granted"] is True
    page.evaluate("() => window.Consent.showPreferences()")
    face = preferences(page).get_by_role("checkbox", name="Face verification")
    expect(face).to_be_checked()
    with recording(page):
        face.uncheck()
    assert recorded(consent)[-1]["choices"]["face_verification"] is False


def test_consent_ask_declined_records_nothing_and_offline_resolves_as_pending(page, service, host, consent, cloud):
    rejected_all(page, service, host)
    page.evaluate("() => { window.asked = window.Consent.ask('overseas_support'); }")
    page.get_by_role("dialog", name="Overseas technical support (transfer abroad)").get_by_role(
        "button", name="Cancel").click()
    assert page.evaluate("() => window.asked") == {"purpose": "overseas_support", "granted": False, "receiptId": None,
                                                   "pending": False}
    assert len(recorded(consent)) == 1
    page.route("**/api/v1/consents", lambda route: route.abort())  # the service cannot be reached
    page.evaluate("() => { window.asked = window.Consent.ask('overseas_support'); }")
    page.get_by_role("dialog", name="Overseas technical support (transfer abroad)").get_by_role(
        "button", name="I agree to this purpose").click()
    assert page.evaluate("() => window.asked") == {"purpose": "overseas_support", "granted": True, "receiptId": None,
                                                   "pending": True}
    assert page.evaluate("() => window.Consent.get().choices.overseas_support") is True
    assert len(recorded(consent)) == 1
    # The visitor's own "Do not track me" stands: a tracking purpose is not asked for, and nothing recorded.
    page.unroute("**/api/v1/consents")
    page.evaluate("() => window.Consent.showPreferences()")
    with recording(page):
        preferences(page).get_by_label("Do not track me").check()
    assert page.evaluate("() => window.Consent.ask('personalized_recommendation')")["granted"] is False
    expect(page.get_by_role("dialog", name="Personalized recommendations (profiling)")).to_have_count(0)


def test_switching_on_email_tracking_asks_for_marketing_email_first(page, service, host, consent, cloud):
    rejected_all(page, service, host)
    page.evaluate("() => window.Consent.showPreferences()")
    centre = preferences(page)
    centre.get_by_role("checkbox", name="Email open tracking").click()  # it turns on only once agreed
    step = centre.get_by_role("group", name="It needs Marketing email as well; agreeing turns that on too.")
    expect(step).to_be_visible()
    expect(centre.get_by_role("checkbox", name="Email open tracking")).not_to_be_checked()
    with recording(page):
        step.get_by_role("button", name="I agree to this purpose").click()
    event = recorded(consent)[-1]
    assert event["choices"]["email_tracking"] is True and event["choices"]["marketing_email"] is True
    # Withdrawing what it requires withdraws it too; the dependency never blocks the withdrawal.
    with recording(page):
        centre.get_by_role("checkbox", name="Marketing email", exact=True).uncheck()
    expect(centre.get_by_role("checkbox", name="Email open tracking")).not_to_be_checked()
    event = recorded(consent)[-1]
    assert event["choices"]["email_tracking"] is False and event["choices"]["marketing_email"] is False


def test_legal_basis_purposes_are_shown_but_not_switches(page, service, host, consent, cloud):
    rejected_all(page, service, host)
    page.evaluate("() => window.Consent.showPreferences()")
    centre = preferences(page)
    real_name = centre.get_by_label("Real-name verification")
    expect(real_name).to_be_disabled()
    expect(centre.get_by_text("Necessary to fulfil a legal duty or obligation", exact=False)).to_have_count(2)
    expect(centre.get_by_text("3 years after the account is closed", exact=False)).to_be_visible()
    with recording(page):
        centre.get_by_role("button", name="Withdraw all").click()
    assert recorded(consent)[-1]["choices"]["real_name_verification"] is True  # processed by law, not a choice


def test_the_age_threshold_of_18(page, service, host, consent, app):
    import_site(app, model_cloud(allowed_origins=[host.url]))  # the example's age gate, at 18
    open_host(page, service, host, site="model-cloud", lang="zh-CN")
    expect(banner(page).get_by_text("在选择之前：您是否已满 18 周岁？")).to_be_visible()
    with recording(page) as posted:
        banner(page).get_by_role("button", name="我未满 18 周岁").click()
    assert posted.value.status == 201
    expect(banner(page).get_by_text("未满 18 周岁的访问者需要取得父母或其他监护人的同意")).to_be_visible()
    [event] = recorded(consent)
    assert event["age_statement"] == "minor" and event["guardian_consent"] == "pending"
    assert not any(event["choices"][purpose] for purpose in ("analytics", "marketing_email", "face_verification"))
    answer = page.evaluate("() => window.Consent.ask('face_verification')")
    assert answer == {"purpose": "face_verification", "granted": False, "receiptId": None, "pending": False}


def test_a_guardians_decision_reaches_the_minors_device(browser, service, host, consent, client, app):
    """The minor says so in the widget, the site's backend records their guardian's decision, and the
    minor's next device shows it, read-only but for "Withdraw all"."""
    import_site(app, model_cloud(allowed_origins=[host.url]))
    tag = f'data-subject="teen-1" data-subject-token="{subject_token(app, "teen-1", "model-cloud")}"'
    first = browser.new_context()
    page = first.new_page()
    open_host(page, service, host, site="model-cloud", lang="en", tag_attributes=tag)
    with recording(page):
        banner(page).get_by_role("button", name="I am under 18").click()
    first.close()
    decided = client.post("/api/v1/sites/model-cloud/subjects/teen-1/guardian-decision", headers=bearer(
        create_api_key(app, "model-cloud")), json={"choices": {"marketing_email": True}, "language": "en",
                                                   "policy_version": "2026-11-26"})
    assert decided.status_code == 201, decided.get_json()
    with browser.new_context() as second:
        page = second.new_page()
        open_host(page, service, host, site="model-cloud", lang="en", tag_attributes=tag)
        page.wait_for_function("() => window.Consent.get() && window.Consent.get().choices.marketing_email")
        assert page.evaluate("() => window.Consent.get().receiptId") == decided.get_json()["receipt_id"]
        page.evaluate("() => window.Consent.showPreferences()")
        centre = preferences(page)
        expect(centre.get_by_text("Your parent or guardian made these choices for you.")).to_be_visible()
        expect(centre.get_by_role("checkbox", name="Marketing email", exact=True)).to_be_checked()
        expect(centre.get_by_role("checkbox", name="Marketing email", exact=True)).to_be_disabled()
        expect(centre.get_by_role("button", name="Accept all")).to_have_count(0)
