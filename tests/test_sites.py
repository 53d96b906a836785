"""Site configuration: YAML import and export, the CLI, and refusals that keep stored policies intact."""
from pathlib import Path

import pytest
import yaml

from consent.errors import InvalidRequest
from consent.sites import configs
from consent.storage import db
from consent.storage.models import PolicyVersion
from tests.conftest import import_site, load_site_config

EXAMPLES = sorted((Path(__file__).parent.parent / "examples" / "sites").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_sites_import_and_round_trip(app, path):
    config = configs.parse_yaml(path.read_text(encoding="utf-8"))
    import_site(app, config)
    with app.app_context():
        exported = configs.export_site(db.get_session(), config["id"])
    assert configs.validate_config(yaml.safe_load(configs.dump_yaml(exported))) == config


def test_demo_site_models_every_standard_purpose():
    config = configs.parse_yaml((Path(__file__).parent.parent / "examples/sites/demo.yaml").read_text(encoding="utf-8"))
    purposes = {purpose["id"]: purpose for purpose in config["purposes"]}
    assert {"necessary", "analytics", "personalization", "advertising", "marketing_sms",
            "personalized_recommendation"} <= set(purposes)
    assert purposes["personalized_recommendation"]["kind"] == "profiling"
    assert any(purpose["sensitive"] and purpose["recipients"] for purpose in purposes.values())


# What the examples show between them, so that the README's "Configure a site" has a file to point to for
# each field (a feature: whether one example's validated config has it).
EXAMPLE_FEATURES = {
    "a legal basis other than consent": lambda site: any(
        purpose.get("legal_basis", "consent") != "consent" for purpose in site["purposes"]),
    "legal_basis: legal_obligation": lambda site: any(
        purpose.get("legal_basis") == "legal_obligation" for purpose in site["purposes"]),
    "pi_categories": lambda site: any("pi_categories" in purpose for purpose in site["purposes"]),
    "sensitive_categories": lambda site: any("sensitive_categories" in purpose for purpose in site["purposes"]),
    "tags": lambda site: any("tags" in purpose for purpose in site["purposes"]),
    "requires": lambda site: any("requires" in purpose for purpose in site["purposes"]),
    "in_context": lambda site: any("in_context" in purpose for purpose in site["purposes"]),
    "overseas_transfer with a recipient abroad": lambda site: any(
        "overseas_transfer" in purpose.get("separate_consent", ())
        and any(recipient.get("country", site["jurisdiction"]) != site["jurisdiction"]
                for recipient in purpose["recipients"])
        for purpose in site["purposes"]),
    "a recipient of role handler": lambda site: any(
        recipient.get("role") == "handler" for purpose in site["purposes"] for recipient in purpose["recipients"]),
    "retention": lambda site: any("retention" in purpose for purpose in site["purposes"]),
    "sources": lambda site: any("sources" in purpose for purpose in site["purposes"]),
    "refusal_consequence": lambda site: any("refusal_consequence" in purpose for purpose in site["purposes"]),
    "age_gate with age_threshold 18": lambda site: site["age_gate"] and site["age_threshold"] == 18,
    "controller url": lambda site: "url" in site["controller"],
    "controller privacy_officer": lambda site: "privacy_officer" in site["controller"],
    "controller complaints": lambda site: "complaints" in site["controller"],
    "controller rights_request_deadline": lambda site: "rights_request_deadline" in site["controller"],
    "policy effective_date": lambda site: "effective_date" in site["policy"],
}


def test_the_examples_between_them_show_every_feature_of_the_format():
    sites = [configs.parse_yaml(path.read_text(encoding="utf-8")) for path in EXAMPLES]
    assert len(sites) >= 5
    assert sorted(feature for feature, shown in EXAMPLE_FEATURES.items() if not any(map(shown, sites))) == []


def test_new_policy_version_is_archived_next_to_the_old(app, client):
    config = load_site_config()
    config["policy"] = {**config["policy"], "version": "v2", "text": {"zh-CN": "第二版。", "en": "Version 2."}}
    import_site(app, config)
    with app.app_context():
        versions = {p.version: p.text["en"] for p in db.get_session().query(PolicyVersion).all()}
    assert versions == {"v1": "Example Shop privacy policy, version 1.", "v2": "Version 2."}
    assert client.get("/api/v1/sites/shop/config").get_json()["policy"]["version"] == "v2"


def test_published_version_cannot_be_rewritten(app):
    config = load_site_config()
    config["policy"] = {**config["policy"], "text": {"zh-CN": "偷偷改过。", "en": "Quietly changed."}}
    with pytest.raises(InvalidRequest, match="already published"):
        import_site(app, config)
    with app.app_context():
        published = db.get_session().get(PolicyVersion, ("shop", "v1"))
        assert published.text["en"] == "Example Shop privacy policy, version 1."


def without_purpose_key(key):
    config = load_site_config()
    del config["purposes"][1][key]
    return config


HOSTILE_CONFIGS = [
    ("pre-ticked optional purpose", lambda c: c["purposes"][1].update(default=True)),
    ("no required purpose", lambda c: c["purposes"][0].update(required=False)),
    ("required purpose that tracks", lambda c: c["purposes"][0].update(tracking=True)),
    ("duplicate purpose", lambda c: c["purposes"].append(dict(c["purposes"][1]))),
    ("text in one language only", lambda c: c["texts"].update(title={"en": "Only English"})),
    ("origin with a path", lambda c: c.update(allowed_origins=["https://shop.example/page"])),
    ("origin with a wildcard", lambda c: c.update(allowed_origins=["https://*.example"])),
    ("javascript policy url", lambda c: c["policy"].update(url="javascript:alert(1)")),
    ("site id with slash", lambda c: c.update(id="../etc")),
    ("boolean as string", lambda c: c["purposes"][1].update(tracking="yes")),
    ("unknown kind", lambda c: c["purposes"][1].update(kind="mind-reading")),
]


@pytest.mark.parametrize(("what", "spoil"), HOSTILE_CONFIGS, ids=[case[0] for case in HOSTILE_CONFIGS])
def test_hostile_site_config_is_refused_and_nothing_changes(app, client, what, spoil):
    config = load_site_config()
    spoil(config)
    with pytest.raises(InvalidRequest) as refusal:
        import_site(app, config)
    assert refusal.value.errors
    assert client.get("/api/v1/sites/shop/config?lang=en").get_json()["texts"]["title"] == "Your privacy choices"


def test_cli_imports_lists_and_exports(app, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(load_site_config(id="other")), encoding="utf-8")
    result = runner.invoke(args=["consent", "site", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported site other" in result.output
    listing = runner.invoke(args=["consent", "site", "list"]).output
    assert "other\tpolicy v1\thttps://shop.example" in listing and "shop\t" in listing
    exported = runner.invoke(args=["consent", "site", "export", "other"])
    assert yaml.safe_load(exported.output)["id"] == "other"


def test_cli_reports_bad_files_readably_and_imports_none(app, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(load_site_config(id="good")), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["consent", "site", "import", str(good), str(bad)])
    assert result.exit_code != 0
    assert "bad.yaml" in result.output and "not valid YAML" in result.output
    assert "good\t" not in app.test_cli_runner().invoke(args=["consent", "site", "list"]).output
