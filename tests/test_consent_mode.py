"""The Consent Mode script's mapping, and what a site's YAML may say about it."""
import pytest
from marshmallow import ValidationError

from consent.sites import config_schema as schemas
from tests.conftest import import_site, load_site_config

SCRIPT = "/api/v1/sites/shop/consent-mode.js"


def test_without_a_mapping_only_what_the_required_purposes_cover_is_ever_granted(client):
    response = client.get(SCRIPT)
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    text = response.get_data(as_text=True)
    assert ('var MAPPING = {"ad_personalization": [], "ad_storage": [], "ad_user_data": [], "analytics_storage": [], '
            '"functionality_storage": ["necessary"], "personalization_storage": [], '
            '"security_storage": ["necessary"]};') in text
    assert 'var REQUIRED = ["necessary"];' in text and "wait_for_update = 500" in text


def test_a_mapping_from_the_yaml_is_served_and_revalidated(app, client):
    import_site(app, load_site_config(google_consent_mode={"analytics_storage": ["analytics"]}))
    first = client.get(SCRIPT)
    assert '"analytics_storage": ["analytics"]' in first.get_data(as_text=True)
    assert '"security_storage": []' in first.get_data(as_text=True)  # a mapping says everything it grants
    again = client.get(SCRIPT, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("site", ["nope", "UPPER", "a" * 65, "x%0A"])
def test_an_unknown_or_malformed_site_is_a_problem_not_a_script(client, site):
    response = client.get(f"/api/v1/sites/{site}/consent-mode.js")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("mapping", [
    {"analytics": ["analytics"]},                      # not a consent type
    {"analytics_storage": ["no_such_purpose"]},        # not a purpose of the site
    {"analytics_storage": []},                         # grants nothing: leave the type out instead
    {"analytics_storage": "analytics"},                # not a list
    {"ad_storage": ["advertising"] * 31},              # more purposes than a site may have
    ["analytics_storage"],
])
def test_a_mapping_that_names_no_consent_type_or_no_purpose_of_the_site_is_refused(mapping):
    with pytest.raises(ValidationError) as refusal:
        schemas.SiteConfigSchema().load(load_site_config(google_consent_mode=mapping))
    assert "google_consent_mode" in refusal.value.messages
