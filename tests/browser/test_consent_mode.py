"""Google Consent Mode v2: the exact `default` and `update` calls a Google tag sees, as a gtag stub records them.

The host page loads the site's consent-mode.js without async, then (as Google's own snippet would) reads
dataLayer; the widget loads async below it, as the README shows.
"""
import pytest

from tests.browser.conftest import SQLITE_ONLY, banner, host_html, recording
from tests.conftest import import_site, load_site_config

pytestmark = SQLITE_ONLY

MAPPING = {
    "analytics_storage": ["analytics"],
    "ad_storage": ["advertising"],
    "ad_user_data": ["advertising"],
    "ad_personalization": ["advertising", "personalized_recommendation"],
    "personalization_storage": ["personalized_recommendation"],
    "functionality_storage": ["necessary"],
    "security_storage": ["necessary"],
}
DENIED = dict.fromkeys(MAPPING, "denied")
DEFAULT = {**DENIED, "functionality_storage": "granted", "security_storage": "granted", "wait_for_update": 500}
# What a Google tag reads: gtag's Arguments objects, and the consent_update events pushed for GTM.
CALLS = """() => window.dataLayer.map((entry) => entry.event ? ["event", entry.event]
                                                         : Array.prototype.slice.call(entry))"""


@pytest.fixture
def tagged(app, page, service, host):
    """A host page with the consent-mode script first, as the README places it before the Google tag."""
    import_site(app, load_site_config(allowed_origins=[host.url], google_consent_mode=MAPPING))
    head = (f'<script src="{service.url}/api/v1/sites/shop/consent-mode.js"></script>'
            "<script>window.firstTagSaw = window.dataLayer.slice();</script>")
    host.page("/", host_html(service, lang="en", head=head))
    page.goto(host.url + "/")
    return page


def consent_calls(page):
    return [call for call in page.evaluate(CALLS) if call[0] == "consent"]


def test_everything_is_denied_before_any_tag_runs(tagged):
    first = tagged.evaluate("() => Array.prototype.slice.call(window.firstTagSaw[0])")
    assert first == ["consent", "default", DEFAULT]


def test_reject_all_updates_to_denied(tagged):
    with recording(tagged):
        banner(tagged).get_by_role("button", name="Reject all").click()
    tagged.wait_for_function("() => window.Consent.get().receiptId !== null")
    assert consent_calls(tagged) == [["consent", "default", DEFAULT], ["consent", "update", {
        **DENIED, "functionality_storage": "granted", "security_storage": "granted"}]]
    assert ["event", "consent_update"] in tagged.evaluate(CALLS)


def test_accept_all_grants_every_mapped_type(tagged):
    with recording(tagged):
        banner(tagged).get_by_role("button", name="Accept all").click()
    tagged.wait_for_function("() => window.Consent.get().receiptId !== null")  # the widget's second report
    assert consent_calls(tagged) == [["consent", "default", DEFAULT],
                                     ["consent", "update", dict.fromkeys(MAPPING, "granted")]]


def test_a_custom_choice_grants_only_what_its_purposes_allow(tagged):
    with recording(tagged):
        banner(tagged).get_by_role("button", name="Accept all").click()
    tagged.get_by_role("button", name="Privacy settings").click()
    with recording(tagged):
        tagged.get_by_role("dialog", name="Privacy preferences").get_by_label("Personalized recommendations").uncheck()
    tagged.wait_for_function("() => window.dataLayer.filter((entry) => entry.event).length >= 2")
    assert consent_calls(tagged) == [
        ["consent", "default", DEFAULT],
        ["consent", "update", dict.fromkeys(MAPPING, "granted")],
        ["consent", "update", {**dict.fromkeys(MAPPING, "granted"), "ad_personalization": "denied",
                               "personalization_storage": "denied"}],
    ]


def test_a_returning_visitor_updates_from_the_stored_decision(tagged):
    with recording(tagged):
        banner(tagged).get_by_role("button", name="Accept all").click()
    tagged.reload()
    tagged.wait_for_function("() => window.dataLayer.length >= 3")
    assert consent_calls(tagged) == [["consent", "default", DEFAULT],
                                     ["consent", "update", dict.fromkeys(MAPPING, "granted")]]
