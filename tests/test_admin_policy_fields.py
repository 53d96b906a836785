"""The console's publish form and settings form support every field the site YAML has (issue: "The console's
'publish a new version' form supports every new field, as YAML does"): a version published from the form without
edits stores the purposes the file declared, each field edited in the form is stored, and hostile input gets the
form back with a readable reason and stores nothing."""
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from consent.sites import configs, purposes
from consent.storage import db
from consent.storage.models import PolicyVersion, Site
from tests.conftest import STORAGE_AGNOSTIC, form_fields, import_site

pytestmark = STORAGE_AGNOSTIC  # validation and static files: tests/conftest.py

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sites" / "model-cloud.yaml"


def model_cloud():
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def stored(app, site_id, version):
    with app.app_context():
        return db.get_session().get(PolicyVersion, (site_id, version))


def versions_of(app, site_id):
    with app.app_context():
        return db.get_session().scalar(select(func.count()).where(PolicyVersion.site_id == site_id))


def prefilled(client, site_id="shop", lang="en"):
    return form_fields(client.get(f"/admin/sites/{site_id}/publish?lang={lang}").get_data(as_text=True))


def row_of(fields, purpose_id):
    """The form's row prefix of a purpose ("purposes-3-")."""
    return next(name.removesuffix("id") for name, value in fields.items()
                if name.startswith("purposes-") and name.endswith("-id") and value == purpose_id)


def test_a_site_from_the_yaml_published_without_edits_stores_its_purposes_unchanged(app, client, operator):
    import_site(app, model_cloud())
    fields = prefilled(client, "model-cloud")
    assert fields[f"{row_of(fields, 'personalized_recommendation')}tags"] == ["personalization", "profiling"]
    response = operator.submit("/admin/sites/model-cloud/publish", {**fields, "version": "2026-12-01"})
    assert response.status_code == 303, response.get_data(as_text=True)
    published, imported = stored(app, "model-cloud", "2026-12-01"), stored(app, "model-cloud", "2026-11-26")
    expected = [configs.purpose_snapshot(purpose) for purpose in configs.validate_config(model_cloud())["purposes"]]
    assert published.purposes == imported.purposes == expected  # the file's order of tags and categories too
    assert (published.text, published.texts, published.url) == (imported.text, imported.texts, imported.url)
    with app.app_context():
        exported = configs.export_site(db.get_session(), "model-cloud")
    assert exported["age_threshold"] == 18 and exported["controller"] == model_cloud()["controller"]


def test_older_declarations_are_shown_in_the_current_form_and_mean_the_same_once_published(app, client, operator):
    """shop.yaml declares `kind` and `required: true`: shown as one tag and the contract basis, saved as such."""
    fields = prefilled(client)
    necessary = row_of(fields, "necessary")
    assert (fields[f"{necessary}tags"], fields[f"{necessary}legal_basis"]) == ("cookie", "contract")
    assert operator.submit("/admin/sites/shop/publish", {**fields, "version": "v2"}).status_code == 303
    before, after = stored(app, "shop", "v1").purposes, stored(app, "shop", "v2").purposes
    for meaning in (purposes.tags, purposes.legal_basis, purposes.is_sensitive, purposes.separate_grounds,
                    purposes.in_own_step, lambda purpose: purpose["recipients"], lambda purpose: purpose["tracking"]):
        assert [meaning(purpose) for purpose in after] == [meaning(purpose) for purpose in before]
    assert after[0]["tags"] == ["cookie"] and "kind" not in after[0] and after[0]["cookies"] == ["session"]


def test_the_form_offers_the_vocabularies_in_both_languages(app, client, operator):
    import_site(app, model_cloud())
    english = client.get("/admin/sites/model-cloud/publish?lang=en").get_data(as_text=True)
    chinese = client.get("/admin/sites/model-cloud/publish?lang=zh-CN").get_data(as_text=True)
    for label in ("Legal basis", "Necessary to fulfil a legal duty or obligation", "Profiling and personalized "
                  "recommendation", "Biometric features", "Transferred outside the country (PIPL art. 39)",
                  "Effective date (optional)", "Retention (English)"):
        assert label in english and label not in chinese
    assert "个人信息" in chinese and "<details" in english
    assert "<script" not in english and " style=" not in english  # the console's CSP allows neither


def edit_fields(client, edits):
    """The prefilled form of shop with `edits` ({purpose id: {field: value}}, {"": {policy field: value}})."""
    fields = {**prefilled(client), "version": "v2"}
    for purpose_id, changes in edits.items():
        prefix = row_of(fields, purpose_id) if purpose_id else ""
        fields.update({prefix + name: value for name, value in changes.items()})
    return fields


RIGHTS = {"zh-CN": "可向其行使查阅权。", "en": "You may ask it for a copy."}
EDITS = [
    ({"necessary": {"legal_basis": "legal_obligation"}},
     "necessary", {"legal_basis": "legal_obligation", "required": True}),
    ({"analytics": {"legal_basis": "consent", "tags": ["cookie", "analytics"]}}, "analytics",
     {"tags": ["cookie", "analytics"]}),
    ({"analytics": {"tags": ["research", "analytics"]}}, "analytics", {"tags": ["analytics", "research"]}),
    ({"analytics": {"pi_categories": ["online_activity", "device"]}}, "analytics",
     {"pi_categories": ["online_activity", "device"]}),
    ({"analytics": {"sensitive_categories": "medical_health"}}, "analytics",
     {"sensitive_categories": ["medical_health"]}),
    ({"analytics": {"separate_consent": ["publication", "overseas_transfer"]}}, "analytics",
     {"separate_consent": ["publication", "overseas_transfer"]}),
    ({"advertising": {"requires": "analytics, marketing_sms"}}, "advertising",
     {"requires": ["analytics", "marketing_sms"]}),
    ({"analytics": {"in_context_zh": "您打开统计面板时", "in_context_en": "when you open the stats panel"}},
     "analytics", {"in_context": {"zh-CN": "您打开统计面板时", "en": "when you open the stats panel"}}),
    ({"analytics": {"retention_zh": "13 个月", "retention_en": "13 months"}}, "analytics",
     {"retention": {"zh-CN": "13 个月", "en": "13 months"}}),
    ({"analytics": {"sources_zh": "您的浏览器", "sources_en": "Your browser"}}, "analytics",
     {"sources": {"zh-CN": "您的浏览器", "en": "Your browser"}}),
    ({"analytics": {"refusal_consequence_zh": "没有影响。", "refusal_consequence_en": "Nothing changes."}},
     "analytics", {"refusal_consequence": {"zh-CN": "没有影响。", "en": "Nothing changes."}}),
    ({"advertising": {"recipients": "示例广告网络 | Example Ad Network | dpo@ads.example | 衡量广告效果 | "
                                    f"Measuring ad performance | SG | handler | device, online_activity | "
                                    f"{RIGHTS['zh-CN']} | {RIGHTS['en']}"}},
     "advertising", {"recipients": [{"name": {"zh-CN": "示例广告网络", "en": "Example Ad Network"},
                                     "contact": "dpo@ads.example", "country": "SG", "role": "handler",
                                     "purpose": {"zh-CN": "衡量广告效果", "en": "Measuring ad performance"},
                                     "data": ["device", "online_activity"], "rights": RIGHTS}]}),
]


@pytest.mark.parametrize(("edits", "purpose_id", "expected"), EDITS)
def test_each_field_edited_in_the_form_is_stored(app, client, operator, edits, purpose_id, expected):
    response = operator.submit("/admin/sites/shop/publish", edit_fields(client, edits))
    assert response.status_code == 303, response.get_data(as_text=True)
    purpose = next(purpose for purpose in stored(app, "shop", "v2").purposes if purpose["id"] == purpose_id)
    assert {key: purpose.get(key) for key in expected} == expected
    # The form shows it back: published again without edits, the purposes are the same.
    assert operator.submit("/admin/sites/shop/publish", {**prefilled(client), "version": "v3"}).status_code == 303
    assert stored(app, "shop", "v3").purposes == stored(app, "shop", "v2").purposes


def test_effective_date_is_stored_and_not_carried_to_the_next_version(app, client, operator):
    assert operator.submit("/admin/sites/shop/publish", edit_fields(
        client, {"": {"effective_date": "2027-01-15"}})).status_code == 303
    assert stored(app, "shop", "v2").effective_date == date(2027, 1, 15)
    assert "2027-01-15" in client.get("/policies/shop/v2?lang=en").get_data(as_text=True)
    assert prefilled(client)["effective_date"] == ""  # a new version states its own


HOSTILE = [
    ({"analytics": {"tags": "surveillance"}}, "Tick only among the choices offered."),
    ({"analytics": {"tags": ["cookie", "<script>alert(1)</script>", "\x00", "x" * 5000]}},
     "Tick only among the choices offered."),
    ({"analytics": {"tags": []}}, "Tick at least one tag."),
    ({"analytics": {"tags": ["cookie", "analytics", "personalization", "advertising", "profiling", "marketing",
                             "sms", "email", "push"]}}, "Tick at most 8 tags."),
    ({"analytics": {"legal_basis": "legitimate_interest"}}, "Not a valid choice"),
    ({"analytics": {"pi_categories": "dna"}}, "Tick only among the choices offered."),
    ({"analytics": {"sensitive_categories": ["whereabouts", "horoscope"]}}, "Tick only among the choices offered."),
    ({"analytics": {"separate_consent": "because"}}, "Tick only among the choices offered."),
    ({"analytics": {"requires": "nowhere"}}, "analytics requires nowhere, which is not a purpose of this site."),
    ({"analytics": {"requires": "Ads!"}}, "lowercase letters"),
    ({"analytics": {"requires": "analytics"}}, "in a loop: analytics"),
    ({"analytics": {"requires": "advertising"}, "advertising": {"requires": "analytics"}}, "in a loop"),
    ({"necessary": {"requires": "analytics"}}, "cannot require analytics"),
    ({"necessary": {"in_context_zh": "使用时", "in_context_en": "when used"}}, "in_context needs the visitor"),
    ({"analytics": {"legal_basis": "contract"}}, "tracking needs the visitor"),
    ({"analytics": {"in_context_zh": "使用时"}}, "The English (en) text is missing."),
    ({"analytics": {"in_context_en": "x" * 201}}, "200"),
    ({"analytics": {"retention_zh": "长" * 501}}, "500"),
    ({"analytics": {"requires": "a," * 1001}}, "2000"),
    ({"analytics": {"recipients": "a | b | c@d.example | e | f | CN | boss"}}, "Not a recipient role"),
    ({"analytics": {"recipients": "a | b | c@d.example | e | f | CN | processor | dna"}},
     "Not a category of personal information"),
    ({"analytics": {"recipients": "a | b | c@d.example | e | f | CN | processor | device | 权利"}},
     "The English (en) text is missing."),
    ({"analytics": {"recipients": " | ".join("x" * 11)}}, "Each recipient line needs"),
    ({"": {"effective_date": "2027-13-01"}}, "Not a valid date value"),
    ({"": {"effective_date": "tomorrow"}}, "Not a valid date value"),
]


@pytest.mark.parametrize(("edits", "reason"), HOSTILE)
def test_hostile_input_gets_the_form_back_with_a_reason_and_stores_nothing(app, client, operator, edits, reason):
    response = operator.submit("/admin/sites/shop/publish", edit_fields(client, edits))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert reason in page and 'class="problems"' in page
    assert "<script>alert" not in page
    assert versions_of(app, "shop") == 1
    with app.app_context():
        assert db.get_session().get(Site, "shop").current_policy_version == "v1"


def test_a_refused_field_among_the_folded_ones_is_shown_unfolded(client, operator):
    page = operator.submit("/admin/sites/shop/publish", edit_fields(
        client, {"analytics": {"retention_en": "x" * 501}})).get_data(as_text=True)
    assert page.count("<details class=\"more\" open>") == 1


# --- Settings: the age threshold and the controller ---------------------------------------------------------------


def settings_fields(client, site_id="shop", **changes):
    return {**form_fields(client.get(f"/admin/sites/{site_id}?lang=en").get_data(as_text=True)), **changes}


def site_config(app, site_id="shop"):
    with app.app_context():
        return configs.export_site(db.get_session(), site_id)


def test_settings_set_the_age_threshold_beside_the_age_gate(app, client, operator):
    page = client.get("/admin/sites/shop?lang=en").get_data(as_text=True)
    assert "under 14" not in page and "Age threshold" in page
    response = operator.submit("/admin/sites/shop", settings_fields(client, age_gate="y", age_threshold="18"))
    assert response.status_code == 303
    assert (site_config(app)["age_gate"], site_config(app)["age_threshold"]) == (True, 18)
    assert client.get("/api/v1/sites/shop/config").get_json()["age_threshold"] == 18
    assert settings_fields(client)["age_threshold"] == "18"


def test_settings_saved_unchanged_keep_a_site_from_the_yaml_as_it_was(app, client, operator):
    import_site(app, model_cloud())
    before = site_config(app, "model-cloud")
    assert operator.submit("/admin/sites/model-cloud", settings_fields(client, "model-cloud")).status_code == 303
    assert site_config(app, "model-cloud") == before


CONTROLLER = {"controller_url": "https://shop.example/contact", "controller_phone": "400-000-0000 转 1",
              "officer_zh": "个人信息保护部", "officer_en": "Privacy Office", "officer_email": "dpo@shop.example",
              "complaints_zh": "可向网信部门投诉。", "complaints_en": "You may complain to the CAC.",
              "complaints_url": "https://shop.example/complaints", "deadline_days": "15", "deadline_working_days": "y"}


def test_settings_edit_the_controllers_other_fields(app, client, operator):
    assert operator.submit("/admin/sites/shop", settings_fields(client, **CONTROLLER)).status_code == 303
    assert site_config(app)["controller"] == {
        "name": {"zh-CN": "示例商城有限公司", "en": "Example Shop Ltd."}, "contact": "privacy@shop.example",
        "url": "https://shop.example/contact", "phone": "400-000-0000 转 1",
        "privacy_officer": {"name": {"zh-CN": "个人信息保护部", "en": "Privacy Office"}, "email": "dpo@shop.example"},
        "complaints": {"text": {"zh-CN": "可向网信部门投诉。", "en": "You may complain to the CAC."},
                       "url": "https://shop.example/complaints"},
        "rights_request_deadline": {"days": 15, "working_days": True},
    }
    cleared = {**settings_fields(client), **{name: "" for name in CONTROLLER}}
    assert operator.submit("/admin/sites/shop", cleared).status_code == 303
    assert site_config(app)["controller"] == {"name": {"zh-CN": "示例商城有限公司", "en": "Example Shop Ltd."},
                                              "contact": "privacy@shop.example"}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"age_threshold": "16"}, "Not a valid choice"),
    ({"age_threshold": "fourteen"}, "Invalid Choice"),
    ({"officer_zh": "保护部", "officer_en": "Office"}, "Give the privacy officer&#39;s email, url or phone"),
    ({"officer_email": "not an address"}, "Not a valid email address"),
    ({"controller_phone": "call us"}, "A phone number"),
    ({"complaints_url": "javascript:alert(1)"}, "An http:// or https:// address"),
    ({"complaints_zh": "投诉"}, "The English (en) text is missing."),
    ({"deadline_days": "91"}, "90"),
    ({"deadline_days": "soon"}, "Not a valid integer value"),
    ({"contact": ""}, "Give the controller&#39;s email, url or phone"),
])
def test_bad_settings_are_refused_with_a_reason(app, client, operator, changes, reason):
    before = site_config(app)
    response = operator.submit("/admin/sites/shop", settings_fields(client, **changes))
    assert response.status_code == 422 and reason in response.get_data(as_text=True)
    assert site_config(app) == before
