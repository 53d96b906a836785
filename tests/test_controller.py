"""The controller a site names (email, url, phone, privacy officer, complaints, deadline) and the policy's effective
date: how they import, export, pin a version, show on pages and stand in receipts."""
import hashlib
import json
from datetime import date, datetime

import pytest
import yaml
from jsonschema import Draft202012Validator

from consent.errors import InvalidRequest
from consent.ledger.receipts import policy_text_hash
from consent.sites import configs
from consent.storage import db
from consent.storage.models import PolicyVersion
from tests.conftest import STORAGE_AGNOSTIC, form_fields, import_site, load_site_config

pytestmark = STORAGE_AGNOSTIC  # validation and static files: tests/conftest.py

NAME = {"zh-CN": "示例商城有限公司", "en": "Example Shop Ltd."}
FULL_CONTROLLER = {
    "name": NAME,
    "url": "https://shop.example/contact",
    "phone": "400-808-9176 转 1",
    "privacy_officer": {"name": {"zh-CN": "个人信息保护部", "en": "Personal Information Protection Office"},
                        "email": "dpo@shop.example"},
    "complaints": {"text": {"zh-CN": "可向网信部门投诉。", "en": "You may complain to the Cyberspace Administration."},
                   "url": "https://shop.example/complaints"},
    "rights_request_deadline": {"days": 15, "working_days": True},
}


def shop_with(controller=None, **policy_changes):
    config = load_site_config()
    if controller is not None:
        config["controller"] = controller
    config["policy"] = {**config["policy"], **policy_changes}
    return config


def exported(app, site_id="shop"):
    with app.app_context():
        return configs.export_site(db.get_session(), site_id)


def run(app, *args):
    return app.test_cli_runner().invoke(args=["consent", *args])


def receipt_validator(client):
    return Draft202012Validator(client.get("/api/v1/schemas/receipt.json").get_json())


# --- Contact: an email, a url or a phone ----------------------------------------------------------


@pytest.mark.parametrize("reach", [{"url": "https://shop.example/contact"}, {"phone": "+86 (10) 8456-4234 ext. 12"}],
                         ids=["url only", "phone only"])
def test_a_controller_reached_without_an_email_imports(app, reach):
    import_site(app, shop_with({"name": NAME, **reach}))
    assert exported(app)["controller"] == {"name": NAME, **reach}


def test_a_controller_without_email_url_or_phone_is_refused_saying_so(app):
    with pytest.raises(InvalidRequest) as refused:
        import_site(app, shop_with({"name": NAME, "address": NAME}))
    assert refused.value.errors == {"controller": {"email": ["Give the controller's email, url or phone: at least one "
                                                             "of them."]}}
    assert exported(app)["controller"]["contact"] == "privacy@shop.example"  # nothing changed


def test_old_contact_files_round_trip_unchanged_and_contact_is_the_email(app, consent, tmp_path):
    shop = load_site_config()
    assert list(shop["controller"]) == ["name", "contact"]
    first = run(app, "site", "export", "shop").output
    assert yaml.safe_load(first)["controller"] == shop["controller"]  # not rewritten into `email`
    (tmp_path / "shop.yaml").write_text(first, encoding="utf-8")
    assert run(app, "site", "import", str(tmp_path / "shop.yaml")).exit_code == 0
    assert run(app, "site", "export", "shop").output == first
    receipt = consent.post().get_json()["receipt"]
    assert receipt["piiControllers"] == [{"piiController": "示例商城有限公司", "contact": "privacy@shop.example",
                                          "email": "privacy@shop.example", "address": "", "phone": "",
                                          "piiControllerUrl": "https://shop.example/privacy"}]
    both = {**shop["controller"], "email": "other@shop.example"}
    with pytest.raises(InvalidRequest) as refused:
        configs.validate_config(shop_with(both))
    assert "older name of email" in refused.value.errors["controller"]["contact"][0]


# --- Receipts -------------------------------------------------------------------------------------


def test_receipts_state_each_way_to_reach_in_its_own_field_and_validate(app, client, consent):
    validator = receipt_validator(client)
    import_site(app, shop_with(FULL_CONTROLLER))
    receipt = consent.post(language="en").get_json()["receipt"]
    assert receipt["piiControllers"] == [{
        "piiController": "Example Shop Ltd.", "contact": "https://shop.example/contact", "email": "",
        "url": "https://shop.example/contact", "phone": "400-808-9176 转 1", "address": "",
        "privacyOfficer": {"name": "Personal Information Protection Office", "email": "dpo@shop.example"},
        "complaints": {"text": "You may complain to the Cyberspace Administration.",
                       "url": "https://shop.example/complaints"},
        "rightsRequestDeadline": {"days": 15, "workingDays": True},
        "piiControllerUrl": "https://shop.example/privacy",
    }]
    assert list(validator.iter_errors(receipt)) == []
    phone = "+86 10 0000 0000"
    import_site(app, shop_with({"name": NAME, "phone": phone}))
    phone_only = consent.post().get_json()["receipt"]
    assert [phone_only["piiControllers"][0][key] for key in ("contact", "email", "phone")] == [phone, "", phone]
    assert "url" not in phone_only["piiControllers"][0] and list(validator.iter_errors(phone_only)) == []
    broken = {**receipt, "piiControllers": [{**receipt["piiControllers"][0], "url": "javascript:alert(1)"}]}
    assert list(validator.iter_errors(broken)) != []


def test_receipt_page_shows_the_controller_facts(app, client, consent):
    import_site(app, shop_with(FULL_CONTROLLER))

    def page(language):
        answer = consent.post(language=language).get_json()
        return client.get(f"/receipts/{answer['receipt_id']}",
                          query_string={"token": answer["receipt_token"], "lang": language}).get_data(as_text=True)

    english = page("en")
    assert '<a href="https://shop.example/contact" rel="noopener">https://shop.example/contact</a>' in english
    assert "400-808-9176 转 1" in english
    assert "Personal Information Protection Office" in english
    assert '<a href="mailto:dpo@shop.example">dpo@shop.example</a>' in english
    assert "You may complain to the Cyberspace Administration." in english
    assert "Answered within 15 working days." in english
    chinese = page("zh-CN")
    assert "个人信息保护负责人" in chinese and "个人信息保护部" in chinese and "可向网信部门投诉。" in chinese
    assert "15 个工作日内答复。" in chinese


# --- The policy's effective date ------------------------------------------------------------------


@pytest.mark.parametrize("given", [date(2025, 6, 1), "2025-06-01"], ids=["a YAML date", "text"])
def test_effective_date_round_trips(app, tmp_path, given):
    import_site(app, shop_with(version="v2", effective_date=given))
    with app.app_context():
        assert db.get_session().get(PolicyVersion, ("shop", "v2")).effective_date == date(2025, 6, 1)
    first = run(app, "site", "export", "shop").output
    assert "  effective_date: 2025-06-01\n" in first
    (tmp_path / "shop.yaml").write_text(first, encoding="utf-8")
    assert run(app, "site", "import", str(tmp_path / "shop.yaml")).exit_code == 0
    assert run(app, "site", "export", "shop").output == first


def test_effective_date_is_shown_on_the_archive_page(app, client):
    import_site(app, shop_with(version="v2", effective_date=date(2025, 6, 1)))
    english = client.get("/policies/shop/v2?lang=en").get_data(as_text=True)
    assert "Effective from 2025-06-01." in english and "published" in english
    assert "自 2025-06-01 起生效。" in client.get("/policies/shop/v2?lang=zh-CN").get_data(as_text=True)
    assert "Effective from" not in client.get("/policies/shop/v1?lang=en").get_data(as_text=True)


@pytest.mark.parametrize("changed", [date(2025, 6, 2), None], ids=["another date", "removed"])
def test_a_published_versions_effective_date_cannot_change(app, changed):
    import_site(app, shop_with(version="v2", effective_date=date(2025, 6, 1)))
    config = shop_with(version="v2", **({"effective_date": changed} if changed else {}))
    with pytest.raises(InvalidRequest, match="already published"):
        import_site(app, config)
    with pytest.raises(InvalidRequest, match="already published"):  # nor be added to one published without it
        import_site(app, shop_with(effective_date=date(2025, 6, 1)))
    with app.app_context():
        session = db.get_session()
        assert session.get(PolicyVersion, ("shop", "v2")).effective_date == date(2025, 6, 1)
        assert session.get(PolicyVersion, ("shop", "v1")).effective_date is None


def old_formula(policy):
    """policy_text_hash as receipts before effective dates pinned it."""
    shown = {field: getattr(policy, field) for field in ("version", "url", "text", "changes", "texts", "purposes")}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def test_the_hash_covers_the_effective_date_only_where_there_is_one(app, client, consent):
    validator = receipt_validator(client)
    before = consent.post().get_json()["receipt"]
    import_site(app, shop_with(version="v2", effective_date="2025-06-01"))
    after = consent.post(policy_version="v2").get_json()["receipt"]
    with app.app_context():
        v1, v2 = (db.get_session().get(PolicyVersion, ("shop", version)) for version in ("v1", "v2"))
        assert policy_text_hash(v1) == old_formula(v1) == before["policyTextHash"]
        shown = {field: getattr(v2, field) for field in ("version", "url", "text", "changes", "texts", "purposes")}
        with_date = hashlib.sha256(json.dumps({**shown, "effective_date": "2025-06-01"}, sort_keys=True,
                                              separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
        assert policy_text_hash(v2) == with_date == after["policyTextHash"] != old_formula(v2)
    assert "policyEffectiveDate" not in before and after["policyEffectiveDate"] == "2025-06-01"
    assert list(validator.iter_errors(after)) == [] and list(validator.iter_errors(before)) == []
    result = run(app, "log", "verify")
    assert result.exit_code == 0, result.output


# --- Hostile input --------------------------------------------------------------------------------


URL_ERROR = "An http:// or https:// address"
PHONE_ERROR = "A phone number: digits, spaces"
WHOLE = "Must be a whole number"
OFFICER_MISSING = "Give the privacy officer's email, url or phone"
HOSTILE = [  # (what, controller besides its name, where the message is, what it says)
    ("email as a list", {"email": ["a@shop.example"]}, ("email",), "Not a valid email address."),
    ("phone of words", {"phone": "call us"}, ("phone",), PHONE_ERROR),
    ("phone of two digits", {"phone": "+12"}, ("phone",), PHONE_ERROR),
    ("overlong phone", {"phone": "1" * 41}, ("phone",), PHONE_ERROR),
    ("javascript url", {"url": "javascript:alert(1)"}, ("url",), URL_ERROR),
    ("data url", {"url": "data:text/html,<script>alert(1)</script>"}, ("url",), URL_ERROR),
    ("url with a newline", {"url": "https://shop.example/\nSet-Cookie: x=1"}, ("url",), URL_ERROR),
    ("overlong url", {"url": "https://shop.example/" + "a" * 2100}, ("url",), URL_ERROR),
    ("overlong email", {"email": "a" * 250 + "@shop.example"}, ("email",), "Length must be between 3 and 254."),
    ("officer as text", {"privacy_officer": "dpo@shop.example"}, ("privacy_officer", "_schema"), "Invalid input type."),
    ("officer unreachable", {"privacy_officer": {"name": NAME}}, ("privacy_officer", "email"), OFFICER_MISSING),
    ("officer javascript url", {"privacy_officer": {"url": "javascript:alert(1)"}}, ("privacy_officer", "url"),
     URL_ERROR),
    ("complaints empty", {"complaints": {}}, ("complaints", "email"), "Say how to complain"),
    ("complaints overlong text", {"complaints": {"text": {"zh-CN": "投" * 1001, "en": "x"}}},
     ("complaints", "text", "zh-CN", "value"), "Length must be between 1 and 1000."),
    ("deadline as text", {"rights_request_deadline": "15 working days"}, ("rights_request_deadline", "_schema"),
     "Invalid input type."),
    ("deadline days quoted", {"rights_request_deadline": {"days": "15", "working_days": True}},
     ("rights_request_deadline", "days"), WHOLE),
    ("deadline days true", {"rights_request_deadline": {"days": True, "working_days": True}},
     ("rights_request_deadline", "days"), WHOLE),
    ("deadline days 1.5", {"rights_request_deadline": {"days": 1.5, "working_days": True}},
     ("rights_request_deadline", "days"), WHOLE),
    ("deadline of 91 days", {"rights_request_deadline": {"days": 91, "working_days": False}},
     ("rights_request_deadline", "days"), "A whole number of days from 1 to 90."),
    ("deadline of a huge number", {"rights_request_deadline": {"days": 10**5000, "working_days": False}},
     ("rights_request_deadline", "days"), "A whole number of days from 1 to 90."),
    ("working days as yes", {"rights_request_deadline": {"days": 15, "working_days": "yes"}},
     ("rights_request_deadline", "working_days"), "Must be true or false."),
    ("deadline without working_days", {"rights_request_deadline": {"days": 15}},
     ("rights_request_deadline", "working_days"), "Missing data for required field."),
]
HOSTILE_DATES = [15, "2025-13-01", "2025-6-1", "2025-06-01T00:00:00", datetime(2025, 6, 1, 8), "", None, ["2025-06-01"]]


@pytest.mark.parametrize(("what", "controller", "where", "says"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_controller_is_refused_with_a_message(what, controller, where, says):
    reachable = {} if {"email", "url", "phone"} & set(controller) else {"email": "privacy@shop.example"}
    with pytest.raises(InvalidRequest) as refused:
        configs.validate_config(shop_with({"name": NAME, **reachable, **controller}))
    errors = refused.value.errors["controller"]
    for key in where:
        errors = errors[key]
    assert errors[0].startswith(says)


@pytest.mark.parametrize("given", HOSTILE_DATES, ids=repr)
def test_hostile_effective_date_is_refused_with_a_message(given):
    with pytest.raises(InvalidRequest) as refused:
        configs.validate_config(shop_with(effective_date=given))
    assert refused.value.errors["policy"]["effective_date"] in (["A date written YYYY-MM-DD, such as 2024-03-21."],
                                                                 ["Field may not be null."])


def test_hostile_files_are_refused_by_the_cli_without_a_crash(app, tmp_path):
    path = tmp_path / "shop.yaml"
    for controller, says in (({"url": "javascript:alert(1)"}, URL_ERROR),
                             ({"email": "a@shop.example", "rights_request_deadline": {"days": 10**100}}, "1 to 90"),
                             ({}, "Give the controller's email, url or phone")):
        path.write_text(yaml.safe_dump(shop_with({"name": NAME, **controller}), allow_unicode=True), encoding="utf-8")
        result = run(app, "site", "import", str(path))
        assert result.exit_code == 1 and says in result.output and "Traceback" not in result.output


def _messages(errors):
    if isinstance(errors, dict):
        return [message for inner in errors.values() for message in _messages(inner)]
    return list(errors)


# --- The console, for a site reached without an email ---------------------------------------------


def test_console_edits_a_site_whose_controller_has_no_email(app, client, operator):
    import_site(app, shop_with({"name": NAME, "url": "https://shop.example/contact"}))
    page = client.get("/admin/sites/shop")
    assert page.status_code == 200
    fields = form_fields(page.get_data(as_text=True))  # the settings form as the browser sends it back
    assert fields["contact"] == "" and fields["controller_url"] == "https://shop.example/contact"
    assert operator.submit("/admin/sites/shop", fields).status_code == 303
    assert exported(app)["controller"] == {"name": NAME, "url": "https://shop.example/contact"}
    assert operator.submit("/admin/sites/shop", {**fields, "contact": "privacy@shop.example"}).status_code == 303
    assert exported(app)["controller"] == {"name": NAME, "url": "https://shop.example/contact",
                                           "email": "privacy@shop.example"}
