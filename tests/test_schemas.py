"""Input patterns match the whole value: a trailing newline is not the end of the text.

Python's `$` matches before a final newline, so "https://shop.example\\n" passed for an origin and
"alice\\n" for a user id with no control characters; every pattern now anchors with \\A and \\Z.
"""
import pytest
from marshmallow import Schema, ValidationError, fields, validate

from consent import schemas
from consent.sites import config_schema
from tests.conftest import load_site_config

PATTERNS = {
    "PURPOSE_ID": "analytics", "ORIGIN": "https://shop.example", "COOKIE_DOMAIN": "shop.example",
    "NO_CONTROL_CHARACTERS": "alice", "TOKEN": "abcdefgh", "VISITOR_SECRET": "a" * 22,
    "UUID_TEXT": "0b7e9a8e-3c58-4f6a-9a59-6c1f1c1d9e2b",
}


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_a_pattern_takes_the_value_and_refuses_it_with_a_trailing_newline(name):
    validator = getattr(schemas, name, None) or getattr(config_schema, name)
    validator(PATTERNS[name])
    with pytest.raises(ValidationError):
        validator(PATTERNS[name] + "\n")


@pytest.mark.parametrize("value", ["CN\n", "cn", "CHN"])
def test_a_jurisdiction_is_two_capital_letters_and_nothing_after(value):
    with pytest.raises(ValidationError):
        config_schema.SiteConfigSchema().load(load_site_config(jurisdiction=value))


def test_the_consent_api_refuses_a_user_id_ending_in_a_newline(consent):
    response = consent.post(subject_id="alice\n")
    assert response.status_code == 422 and "subject_id" in response.get_json()["errors"]


@pytest.mark.parametrize("domain", ["SHOP.example", ".shop.example", "shop", "shop.example:443", "127.0.0.1",
                                    "shop.example\n", "evil.example", "hop.example", "a" * 250 + ".example", "",
                                    5, ["shop.example"]])
def test_a_cookie_domain_that_is_no_domain_of_an_allowed_origin_is_refused(domain):
    with pytest.raises(ValidationError) as refusal:
        config_schema.SiteConfigSchema().load(load_site_config(cookie_domain=domain))
    assert "cookie_domain" in refusal.value.messages


@pytest.mark.parametrize("domain", ["shop.example", "www.shop.example"])
def test_a_cookie_domain_may_be_an_allowed_host_or_a_domain_above_it(domain):
    config = load_site_config(allowed_origins=["https://www.shop.example", "https://partner.example"],
                              cookie_domain=domain)
    assert config_schema.SiteConfigSchema().load(config)["cookie_domain"] == domain


class _GenericChoices(Schema):
    """The choices field as it was before issue 18: marshmallow's own Dict of two fields."""
    choices = fields.Dict(keys=fields.String(validate=schemas.PURPOSE_ID), values=schemas.StrictBoolean(),
                          required=True, validate=validate.Length(1, 30))


@pytest.mark.parametrize("choices", [
    {"analytics": True, "ads": False}, {"Analytics": True}, {"analytics": 1}, {"analytics": "true", "9x": None},
    {"a" * 65: True}, {"ok": True, "bad key": [], "worse\n": {}}, [], "analytics", None, 1, {},
    {f"p{i}": True for i in range(31)},
])
def test_the_one_pass_choices_field_loads_and_refuses_as_the_generic_dict_did(choices):
    def outcome(schema):
        try:
            return "loaded", schema.load({"choices": choices})["choices"]
        except ValidationError as error:
            return "refused", error.messages["choices"]

    mine = schemas.ConsentRequestSchema(only=("choices",))
    assert outcome(mine) == outcome(_GenericChoices())
