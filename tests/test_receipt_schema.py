"""The published receipt JSON Schema: real receipts of every kind validate, broken ones do not."""
import copy

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import import_site, load_site_config


@pytest.fixture
def validator(client):
    response = client.get("/api/v1/schemas/receipt.json")
    assert response.status_code == 200 and response.mimetype == "application/schema+json"
    schema = response.get_json()
    assert schema["$id"] == "http://localhost/api/v1/schemas/receipt.json"
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_real_receipts_validate(app, consent, validator):
    everything = {"necessary": True, "analytics": True, "advertising": True, "marketing_sms": True,
                  "personalized_recommendation": True, "cross_border_transfer": True}
    receipts = [
        consent.post().get_json()["receipt"],
        consent.post(**consent.user("user-1"), language="en", choices=everything,
                     separate_consents=["cross_border_transfer"],
                     collection_method="preference_centre").get_json()["receipt"],
        consent.post(visitor_id="visitor-1234", do_not_track=True,
                     signals={"dnt": True, "gpc": True}).get_json()["receipt"],
    ]
    import_site(app, load_site_config(age_gate=True))
    receipts.append(consent.post(age_statement="under_14").get_json()["receipt"])
    for receipt in receipts:
        assert list(validator.iter_errors(receipt)) == []


def _set(path, value):
    def change(receipt):
        *parents, last = path
        target = receipt
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return change


BROKEN = [
    ("consent given as a string", _set(["services", 0, "purposes", 1, "consentGiven"], "yes")),
    ("consent given as 1", _set(["services", 0, "purposes", 1, "consentGiven"], 1)),
    ("purpose without consentGiven", _set(["services", 0, "purposes", 1, "consentGiven"], KeyError)),
    ("no purposes", _set(["services", 0, "purposes"], [])),
    ("raw user id as principal", _set(["piiPrincipalId"], "user-42")),
    ("unknown version", _set(["version"], "KI-CR-v1.0.0")),
    ("timestamp as text", _set(["consentTimestamp"], "2026-01-01")),
    ("no policy archive link", _set(["policyArchiveUrl"], KeyError)),
    ("archive link not a URL", _set(["policyArchiveUrl"], "javascript:alert(1)")),
    ("unsupported language", _set(["language"], "fr")),
    ("an extra field", _set(["note"], "added later")),
    ("receipt id not a uuid", _set(["consentReceiptID"], "1")),
    ("signals incomplete", _set(["signals"], {"dnt": True})),
    ("implicit consent", _set(["services", 0, "purposes", 0, "consentType"], "IMPLIED")),
]


@pytest.mark.parametrize(("what", "change"), BROKEN, ids=[case[0] for case in BROKEN])
def test_broken_receipts_do_not_validate(consent, validator, what, change):
    receipt = copy.deepcopy(consent.post(**consent.user("user-1")).get_json()["receipt"])
    change(receipt)
    assert list(validator.iter_errors(receipt)) != []
