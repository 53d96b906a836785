"""Issue 15: a policy modelled without approximation, as receipts, choices and the widget config read it.

The site is examples/sites/model-cloud.yaml: legal bases other than consent, PI and sensitive categories,
tags, a requirement between purposes, purposes asked in context, recipients with roles, and an age
threshold of 18. Each finding the issue measured on main has a test here that failed there.
"""
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from marshmallow import ValidationError

from consent.sites import vocabulary
from consent.sites.config_schema import SiteConfigSchema
from tests.conftest import import_site, load_site_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sites" / "model-cloud.yaml"
ORIGIN = "https://model-cloud.example"
OPTIONAL = ("analytics", "personalized_recommendation", "marketing_email", "email_tracking", "face_verification",
            "overseas_support", "partner_offers")


def model_cloud(**changes):
    return {**yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), **changes}


@pytest.fixture
def cloud(app, consent):
    import_site(app, model_cloud())

    def post(age_statement="adult", **body):
        choices = {purpose_id: False for purpose_id in OPTIONAL}
        choices.update(body.pop("choices", {}))
        return consent.post(origin=ORIGIN, site_id="model-cloud", policy_version="2026-11-26",
                            age_statement=age_statement, choices=choices, **body)

    return post


@pytest.fixture
def validator(client):
    return Draft202012Validator(client.get("/api/v1/schemas/receipt.json").get_json())


def purposes_of(receipt):
    return {purpose["purposeId"]: purpose for purpose in receipt["services"][0]["purposes"]}


def test_a_refuse_all_receipt_is_not_sensitive_yet_lists_the_refused_sensitive_purpose(consent):
    receipt = consent.post().get_json()["receipt"]  # shop: cross_border_transfer is sensitive, and refused
    assert receipt["sensitive"] is False and receipt["spiCat"] == []
    refused = purposes_of(receipt)["cross_border_transfer"]
    assert refused["consentGiven"] is False and refused["sensitive"] is True


def test_every_purpose_has_its_pi_categories_and_tags(cloud, validator):
    receipt = cloud().get_json()["receipt"]
    validator.validate(receipt)
    purposes = purposes_of(receipt)
    assert all(purpose["piiCategory"] for purpose in purposes.values())
    assert purposes["face_verification"]["piiCategory"] == ["biometric"]
    assert purposes["email_tracking"]["purposeCategory"] == ["marketing", "email", "analytics"]


def test_a_granted_sensitive_purpose_fills_spi_cat(cloud, validator):
    refused = cloud().get_json()["receipt"]
    # Real-name verification is processed by law whatever the visitor chooses: its category is always there.
    assert refused["spiCat"] == ["specific_identity"] and refused["sensitive"] is True
    granted = cloud(choices={"face_verification": True}, separate_consents=["face_verification"],
                    collection_method="in_context").get_json()["receipt"]
    validator.validate(granted)
    assert granted["spiCat"] == ["biometric", "specific_identity"]
    assert granted["collectionMethod"] == "consent.js in_context"
    face = purposes_of(granted)["face_verification"]
    assert face["consentGiven"] is True and face["separateConsent"] is True
    assert face["separateConsentGrounds"] == ["sensitive"]
    assert face["thirdParties"] == [{"name": "示例身份核验服务有限公司", "contact": "privacy@id-verify.example",
                                     "role": "processor", "country": "CN", "data": ["biometric", "identity"]}]


def test_a_legal_obligation_is_never_receipted_as_consent(cloud, validator):
    receipt = cloud().get_json()["receipt"]
    real_name = purposes_of(receipt)["real_name_verification"]
    assert real_name["consentType"] == "LEGAL_OBLIGATION" and real_name["legalBasis"] == "legal_obligation"
    assert real_name["consentGiven"] is None and "withdrawn" not in real_name["termination"]
    assert real_name["retention"] == "账号注销后 3 年"
    assert purposes_of(receipt)["account"]["consentType"] == "CONTRACT"
    assert purposes_of(receipt)["analytics"]["consentType"] == "EXPLICIT"
    assert "withdrawn" in purposes_of(receipt)["analytics"]["termination"]


def test_purposes_not_based_on_consent_are_no_choice(cloud, consent):
    # Older widgets send them as true; newer ones leave them out. Refusing one is refused.
    assert cloud(choices={"account": True, "real_name_verification": True}).status_code == 201
    refusing = cloud(choices={"transaction_records": False})
    assert refusing.status_code == 422
    assert refusing.get_json()["errors"]["choices"] == {
        "transaction_records": ["Not a choice: leave it out, or send true."]}
    assert len(consent.stored_events()) == 1


def test_a_purpose_is_granted_only_with_what_it_requires(cloud, consent):
    alone = cloud(choices={"email_tracking": True})
    assert alone.status_code == 422
    assert alone.get_json()["errors"]["choices"] == {"email_tracking": ["Requires marketing_email."]}
    assert len(consent.stored_events()) == 0
    both = cloud(choices={"email_tracking": True, "marketing_email": True})
    assert both.status_code == 201 and purposes_of(both.get_json()["receipt"])["email_tracking"]["requires"] == [
        "marketing_email"]


@pytest.mark.parametrize("purpose_id", ["face_verification", "overseas_support", "partner_offers"])
def test_purposes_of_their_own_step_need_it(cloud, purpose_id):
    bundled = cloud(choices={purpose_id: True})
    assert bundled.status_code == 422
    assert bundled.get_json()["errors"]["choices"] == {purpose_id: ["Granted without separate consent."]}
    assert cloud(choices={purpose_id: True}, separate_consents=[purpose_id]).status_code == 201


def test_separate_consent_has_its_grounds(cloud):
    purposes = purposes_of(cloud().get_json()["receipt"])
    assert purposes["overseas_support"]["separateConsentGrounds"] == ["overseas_transfer"]  # declared
    assert purposes["partner_offers"]["separateConsentGrounds"] == ["provision"]  # its recipient is a handler
    assert purposes["real_name_verification"]["separateConsentGrounds"] == []  # not consent at all
    assert purposes["analytics"]["separateConsentGrounds"] == []


def test_accept_all_leaves_the_separate_steps_out(cloud, consent):
    granted = {"analytics": True, "personalized_recommendation": True, "marketing_email": True, "email_tracking": True}
    assert cloud(choices=granted).status_code == 201
    assert consent.stored_events()[-1].action == "accept_all"


def test_the_age_threshold_is_the_sites(cloud, consent):
    minor = cloud(age_statement="minor", choices={"analytics": True})
    assert minor.status_code == 422 and "A visitor under 18 needs a guardian" in minor.get_json()["detail"]
    pending = cloud(age_statement="minor")
    assert pending.status_code == 201 and pending.get_json()["receipt"]["guardianConsent"] == "pending"


def test_the_widget_config_says_what_each_purpose_is(client, cloud):
    config = client.get("/api/v1/sites/model-cloud/config?lang=en").get_json()
    purposes = {purpose["id"]: purpose for purpose in config["purposes"]}
    assert purposes["real_name_verification"]["basis"] == "legal_obligation"
    assert purposes["real_name_verification"]["required"] is True and "basis" not in purposes["analytics"]
    assert purposes["face_verification"]["ask"] == "when you choose to verify your identity with your face"
    assert purposes["email_tracking"]["requires"] == ["marketing_email"]
    assert purposes["partner_offers"]["separate"] is True and "separate" not in purposes["analytics"]
    assert purposes["analytics"]["refusal"] == "Nothing changes for you."
    assert purposes["overseas_support"]["recipients"][0]["rights"].startswith("You can exercise your access")
    assert config["age_threshold"] == 18
    assert config["strings"]["basis_legal_obligation"] == str(vocabulary.LEGAL_BASES["legal_obligation"])
    banner = client.get("/api/v1/sites/model-cloud/config?lang=en&view=banner").get_json()
    face = {purpose["id"]: purpose for purpose in banner["purposes"]}["face_verification"]
    assert "ask" in face and not {"retention", "refusal", "description"} & set(face)


def test_older_files_keep_their_snapshot(app):
    """A version published before these fields existed imports again unchanged: nothing derived is stored."""
    from consent.sites.configs import purpose_snapshot, validate_config

    shop = validate_config(load_site_config())
    assert {key for purpose in shop["purposes"] for key in purpose_snapshot(purpose)} == {
        "id", "kind", "required", "tracking", "sensitive", "title", "description", "cookies", "recipients"}


def purpose_change(purpose_id, **fields):
    config = model_cloud()
    for purpose in config["purposes"]:
        if purpose["id"] == purpose_id:
            purpose.update(fields)
    return config


REFUSED_CONFIGS = [
    ("consent yet required", purpose_change("analytics", legal_basis="consent", required=True),
     "A purpose based on consent can always be refused"),
    ("tracking on a legal obligation", purpose_change("transaction_records", tracking=True),
     "tracking needs the visitor's consent"),
    ("asked in context yet not consent", purpose_change("account", in_context={"zh-CN": "时", "en": "when"}),
     "in_context needs the visitor's consent"),
    ("a legal basis not in the law", purpose_change("account", legal_basis="legitimate_interest"),
     "Not a legal basis; use one of: consent, contract"),
    ("a category not in the vocabulary", purpose_change("analytics", pi_categories=["cookies"]),
     "Not a category of personal information"),
    ("a sensitive category not in art. 28", purpose_change("analytics", sensitive_categories=["location"]),
     "Not a category of sensitive personal information"),
    ("a tag twice", purpose_change("analytics", tags=["cookie", "cookie"]), "List each only once."),
    ("tags and kind", purpose_change("analytics", kind="cookie"), "Give tags (one or several), or the older kind"),
    ("neither tags nor kind", purpose_change("analytics", tags=None), "Give tags (one or several), or the older kind"),
    ("requires an unknown purpose", purpose_change("email_tracking", requires=["newsletter"]),
     "email_tracking requires newsletter, which is not a purpose of this site."),
    ("requirements in a loop", purpose_change("marketing_email", requires=["email_tracking"]),
     "These purposes require each other in a loop: email_tracking, marketing_email."),
    ("a legal basis requiring a choice", purpose_change("account", requires=["analytics"]),
     "account is not based on consent, so it cannot require analytics"),
    ("a recipient role not in the list", purpose_change("partner_offers", recipients=[{
        **model_cloud()["purposes"][-1]["recipients"][0], "role": "controller"}]), "Not a recipient role"),
    ("an age threshold of 16", model_cloud(age_threshold=16), "The age threshold is 14"),
]


@pytest.mark.parametrize(("what", "config", "message"), REFUSED_CONFIGS, ids=[case[0] for case in REFUSED_CONFIGS])
def test_incoherent_policies_are_refused(what, config, message):
    for purpose in config["purposes"]:
        if purpose.get("tags", ()) is None:
            del purpose["tags"]
    with pytest.raises(ValidationError) as refused:
        SiteConfigSchema().load(config)
    assert message in str(refused.value.normalized_messages())


def test_required_and_sensitive_is_now_allowed():
    """Real-name verification processes ID numbers by law: sensitive, yet no choice (refused on main)."""
    loaded = SiteConfigSchema().load(load_site_config(purposes=[
        {**load_site_config()["purposes"][0], "sensitive": True}, *load_site_config()["purposes"][1:]]))
    assert loaded["purposes"][0]["required"] and loaded["purposes"][0]["sensitive"]


def test_a_recipient_abroad_without_the_overseas_ground_gets_advice(app, tmp_path):
    """Not refused (files published before could not declare the ground), but said on import."""
    shop, cloud = tmp_path / "shop.yaml", tmp_path / "cloud.yaml"
    shop.write_text(yaml.safe_dump(load_site_config(), allow_unicode=True), encoding="utf-8")
    cloud.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["consent", "site", "import", str(shop), str(cloud)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f'{shop}: advice: purpose "advertising": recipient "Example Ad Network" is in SG, outside CN: a transfer '
        "abroad needs separate consent (PIPL art. 39); add overseas_transfer to the purpose's separate_consent.",
        f'{shop}: advice: purpose "cross_border_transfer": recipient "Example Support Pte. Ltd." is in SG, outside '
        "CN: a transfer abroad needs separate consent (PIPL art. 39); add overseas_transfer to the purpose's "
        "separate_consent.",
    ]


def test_receipts_issued_before_stay_valid(consent, validator):
    """A receipt in the shape before issue 15 (every purpose EXPLICIT, one kind, no categories) validates."""
    receipt = consent.post().get_json()["receipt"]
    kinds = {purpose["id"]: purpose["kind"] for purpose in load_site_config()["purposes"]}
    for purpose in receipt["services"][0]["purposes"]:
        for key in ("legalBasis", "piiCategory", "thirdParties", "separateConsentGrounds", "requires", "cookies"):
            purpose.pop(key, None)
        purpose.update(consentType="EXPLICIT", purposeCategory=[kinds[purpose["purposeId"]]],
                       consentGiven=purpose["consentGiven"] is not False)
    receipt["sensitive"] = True
    validator.validate(receipt)


def test_a_published_versions_changes_text_cannot_change(app):
    """What changed is shown to visitors asked again and pinned by receipts: it is part of the version."""
    from consent.errors import InvalidRequest

    policy = {**load_site_config()["policy"], "changes": {"zh-CN": "新增营销短信。", "en": "Marketing SMS added."}}
    with pytest.raises(InvalidRequest, match="already published with other content"):
        import_site(app, load_site_config(policy=policy))


def test_the_receipt_page_says_why_a_purpose_is_no_choice(client, cloud):
    answer = cloud().get_json()
    page = client.get(f"/receipts/{answer['receipt_id']}?token={answer['receipt_token']}&lang=en")
    assert page.status_code == 200
    assert "Always on: Necessary to fulfil a legal duty or obligation" in page.get_data(as_text=True)
