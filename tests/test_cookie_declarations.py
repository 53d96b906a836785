"""Cookies and storage keys declared per purpose: what import accepts and refuses, what the widget is sent,
and versions published before declarations existed importing unchanged."""
import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.errors import InvalidRequest
from consent.sites import configs
from consent.storage import db
from consent.storage.models import PolicyVersion
from tests.conftest import STORAGE_AGNOSTIC, import_site, load_site_config
from tests.test_fuzz import json_values

pytestmark = STORAGE_AGNOSTIC  # validation and static files: tests/conftest.py

CONFIG = "/api/v1/sites/shop/config?lang=en"
README = Path(__file__).resolve().parent.parent / "README.md"
BAIDU_FIRST_VISIT = {"pattern": "Hm_lvt_*", "lifetime": {"zh-CN": "1 年", "en": "1 year"},
                     "description": {"zh-CN": "百度统计：首次访问时间", "en": "Baidu Tongji: first visit"}}
AD_PARTNER = {"name": "adpx_uid", "domain": ".ads.example", "party": "third",
              "description": {"zh-CN": "广告合作方的设备标识", "en": "The ad partner's device ID"}}


def declaring(config=None, version=None, **by_purpose):
    """The shop config (or `config`) with each named purpose's fields updated: analytics={"cookies": [...]},
    published as `version` if given."""
    config = copy.deepcopy(config or load_site_config())
    if version:
        config["policy"]["version"] = version
    purposes = {purpose["id"]: purpose for purpose in config["purposes"]}
    for purpose_id, changes in by_purpose.items():
        purposes[purpose_id].update(changes)
    return config


def widget_purposes(client, language="en"):
    config = client.get(f"/api/v1/sites/shop/config?lang={language}").get_json()
    return {purpose["id"]: purpose for purpose in config["purposes"]}


def test_declarations_reach_the_widget_in_short_keys_with_defaults_left_out(app, client):
    import_site(app, declaring(
        analytics={"cookies": ["_pk_id", BAIDU_FIRST_VISIT,
                               {"name": "uid", "domain": ".shop.example", "path": "/account"},
                               {"name": "plain", "path": "/", "party": "first"}],
                   "storage": [{"key": "stats_queue"},
                               {"pattern": "stats_*", "area": "session",
                                "description": {"zh-CN": "统计缓存", "en": "Statistics cache"}}]},
        advertising={"cookies": [AD_PARTNER]},
        version="v2",
    ))
    english, chinese = widget_purposes(client, "en"), widget_purposes(client, "zh-CN")
    assert english["analytics"]["cookies"] == [
        {"n": "_pk_id"},
        {"p": "Hm_lvt_*", "l": "1 year", "x": "Baidu Tongji: first visit"},
        {"n": "uid", "d": ".shop.example", "h": "/account"},
        {"n": "plain"},
    ]
    assert english["analytics"]["storage"] == [{"n": "stats_queue", "a": "b"},
                                               {"p": "stats_*", "a": "s", "x": "Statistics cache"}]
    assert english["advertising"]["cookies"] == [
        {"n": "adpx_uid", "d": ".ads.example", "t": "3", "x": "The ad partner's device ID"}]
    assert chinese["analytics"]["cookies"][1] == {"p": "Hm_lvt_*", "l": "1 年", "x": "百度统计：首次访问时间"}
    assert english["necessary"]["cookies"] == [{"n": "session"}]  # tests/data/shop.yaml: a plain name
    assert not {"cookies", "storage"} & set(english["marketing_sms"])  # nothing declared: no key at all
    assert "storage" not in english["advertising"]


def test_the_stored_declaration_is_the_operators_own_shape(app):
    written = [BAIDU_FIRST_VISIT, "_pk_id", {"name": "uid", "path": "/"}]
    import_site(app, declaring(analytics={"cookies": written, "storage": [{"key": "q"}]},
                               version="v2"))
    with app.app_context():
        exported = configs.export_site(db.get_session(), "shop")
    analytics = next(purpose for purpose in exported["purposes"] if purpose["id"] == "analytics")
    assert analytics["cookies"] == written and analytics["storage"] == [{"key": "q"}]  # no defaults filled in
    assert "storage" not in exported["purposes"][0]  # none declared: not written back either
    import_site(app, exported)  # import(export(x)) changes nothing: the same version is accepted


def test_a_version_published_before_declarations_existed_imports_again_unchanged(app, client):
    """Its snapshot holds plain names in `cookies` and no `storage` key; the same YAML must still match it."""
    old_fields = ("id", "kind", "required", "tracking", "sensitive", "title", "description", "cookies", "recipients")
    validated = configs.validate_config(load_site_config())
    old_shape = [{key: purpose[key] for key in old_fields} for purpose in validated["purposes"]]
    with app.app_context(), db.write_transaction() as session:
        session.get(PolicyVersion, ("shop", "v1")).purposes = old_shape
    import_site(app, load_site_config())
    with app.app_context():
        assert db.get_session().get(PolicyVersion, ("shop", "v1")).purposes == old_shape
    assert widget_purposes(client)["necessary"]["cookies"] == [{"n": "session"}]
    with pytest.raises(InvalidRequest, match="already published with other content"):
        import_site(app, declaring(analytics={"storage": [{"key": "stats_queue"}]}))


def test_changing_declarations_needs_a_new_version(app):
    with pytest.raises(InvalidRequest, match="already published with other content"):
        import_site(app, declaring(necessary={"cookies": ["session", "csrf"]}))
    import_site(app, declaring(necessary={"cookies": ["session", "csrf"]},
                               version="v2"))


def test_a_legacy_name_that_is_no_cookie_name_is_never_sent(app, client):
    """Plain names were stored unchecked before the widget cleared them."""
    with app.app_context(), db.write_transaction() as session:
        published = session.get(PolicyVersion, ("shop", "v1"))
        purposes = copy.deepcopy(published.purposes)
        purposes[0]["cookies"] = ["session", "x; Domain=evil.example", "two words"]
        published.purposes = purposes
    assert widget_purposes(client)["necessary"]["cookies"] == [{"n": "session"}]


def test_reload_on_withdrawal_is_sent_only_when_set_and_survives_export(app, client):
    assert "reload_on_withdrawal" not in client.get(CONFIG).get_json()
    import_site(app, load_site_config(reload_on_withdrawal=True))
    assert client.get(CONFIG).get_json()["reload_on_withdrawal"] is True
    with app.app_context():
        exported = configs.export_site(db.get_session(), "shop")
    assert exported["reload_on_withdrawal"] is True
    import_site(app, {**exported, "reload_on_withdrawal": False})
    assert "reload_on_withdrawal" not in client.get(CONFIG).get_json()
    with app.app_context():
        assert "reload_on_withdrawal" not in configs.export_site(db.get_session(), "shop")


@pytest.mark.parametrize("declaration", [
    {"cookies": [{"name": "consent_shop", "lifetime": {"zh-CN": "1 年", "en": "1 year"}}]},
    {"cookies": [{"pattern": "session*"}]},
    {"cookies": [{"name": "uid", "domain": "shop.example"}, {"name": "uid", "domain": ".shop.example"}]},
    {"storage": [{"key": "consent_shop_pending", "area": "local"}]},
])
def test_a_required_purpose_may_declare_what_only_it_keeps(declaration):
    configs.validate_config(declaring(necessary=declaration))


def test_a_third_party_cookie_lives_on_the_partners_domain():
    configs.validate_config(declaring(advertising={"cookies": [AD_PARTNER]}))


def cookie(**fields):
    return {"cookies": [{"name": "uid", **fields}]}


HOSTILE_DECLARATIONS = [
    # (what, purpose changes, where the error is, under purposes.<analytics>)
    ("name and pattern", {"cookies": [{"name": "_ga", "pattern": "_ga_*"}]}, "cookies.0.name"),
    ("neither name nor pattern", {"cookies": [{"lifetime": {"zh-CN": "1 年", "en": "1 year"}}]}, "cookies.0.name"),
    ("name with a star", {"cookies": [{"name": "_ga_*"}]}, "cookies.0.name"),
    ("plain name with a star", {"cookies": ["_ga_*"]}, "cookies.0"),
    ("name with a semicolon", {"cookies": ["a; Domain=evil.example"]}, "cookies.0"),
    ("name with an equals sign", {"cookies": [{"name": "a=b"}]}, "cookies.0.name"),
    ("name with a space", {"cookies": [{"name": "my cookie"}]}, "cookies.0.name"),
    ("name with a trailing newline", {"cookies": ["uid\n"]}, "cookies.0"),
    ("non-ASCII name", {"cookies": ["统计"]}, "cookies.0"),
    ("empty name", {"cookies": [""]}, "cookies.0"),
    ("name of 101 characters", {"cookies": ["a" * 101]}, "cookies.0"),
    ("name as a number", {"cookies": [5]}, "cookies.0"),
    ("name as null", {"cookies": [None]}, "cookies.0"),
    ("name as a list", {"cookies": [["_ga"]]}, "cookies.0"),
    ("cookies as a string", {"cookies": "_ga"}, "cookies"),
    ("101 cookies", {"cookies": [f"c{number}" for number in range(101)]}, "cookies"),
    ("pattern that is only a star", {"cookies": [{"pattern": "*"}]}, "cookies.0.pattern"),
    ("pattern of stars", {"cookies": [{"pattern": "***"}]}, "cookies.0.pattern"),
    ("pattern without a star", {"cookies": [{"pattern": "_ga"}]}, "cookies.0.pattern"),
    ("pattern with a question mark", {"cookies": [{"pattern": "_g?_*"}]}, "cookies.0.pattern"),
    ("pattern of 101 characters", {"cookies": [{"pattern": "a" * 100 + "*"}]}, "cookies.0.pattern"),
    ("domain in capitals", cookie(domain=".SHOP.example"), "cookies.0.domain"),
    ("domain with a port", cookie(domain="shop.example:443"), "cookies.0.domain"),
    ("domain that is an address", cookie(domain="127.0.0.1"), "cookies.0.domain"),
    ("domain with two dots", cookie(domain="..shop.example"), "cookies.0.domain"),
    ("domain with a trailing newline", cookie(domain="shop.example\n"), "cookies.0.domain"),
    ("domain of one label", cookie(domain="shop"), "cookies.0.domain"),
    ("first party on a foreign domain", cookie(domain=".evil.example"), "cookies.0.domain"),
    ("first party above no allowed host", cookie(domain="hop.example", party="first"), "cookies.0.domain"),
    ("path without a slash", cookie(path="account"), "cookies.0.path"),
    ("path with a semicolon", cookie(path="/a;Domain=evil.example"), "cookies.0.path"),
    ("path with a newline", cookie(path="/\n"), "cookies.0.path"),
    ("empty path", cookie(path=""), "cookies.0.path"),
    ("lifetime in one language", cookie(lifetime={"en": "1 year"}), "cookies.0.lifetime"),
    ("lifetime as a number", cookie(lifetime=365), "cookies.0.lifetime"),
    ("lifetime as an ISO duration", cookie(lifetime="P1Y"), "cookies.0.lifetime"),
    ("empty description", cookie(description={"zh-CN": "", "en": "x"}), "cookies.0.description"),
    ("description too long", cookie(description={"zh-CN": "长" * 301, "en": "x"}), "cookies.0.description"),
    ("description in a third language", cookie(description={"zh-CN": "统计", "en": "Stats", "fr": "Stats"}),
     "cookies.0.description"),
    ("unknown party", cookie(party="second"), "cookies.0.party"),
    ("party as a boolean", cookie(party=True), "cookies.0.party"),
    ("unknown cookie key", cookie(expires="2030-01-01"), "cookies.0.expires"),
    ("clears the widget's own cookie", {"cookies": ["consent_shop"]}, "cookies.0"),
    ("pattern covering the widget's own cookie", {"cookies": [{"pattern": "consent_*"}]}, "cookies.0.pattern"),
    ("clears a required purpose's cookie", {"cookies": [{"name": "session"}]}, "cookies.0.name"),
    ("pattern covering a required purpose's cookie", {"cookies": [{"pattern": "sess*"}]}, "cookies.0.pattern"),
    ("storage key and pattern", {"storage": [{"key": "a", "pattern": "a*"}]}, "storage.0.key"),
    ("storage without key or pattern", {"storage": [{"area": "local"}]}, "storage.0.key"),
    ("storage key with a star", {"storage": [{"key": "stats_*"}]}, "storage.0.key"),
    ("storage key with a control character", {"storage": [{"key": "a\x00b"}]}, "storage.0.key"),
    ("storage key with a lone surrogate", {"storage": [{"key": "a\ud800"}]}, "storage.0.key"),
    ("storage key of 201 characters", {"storage": [{"key": "k" * 201}]}, "storage.0.key"),
    ("storage pattern that is only a star", {"storage": [{"pattern": "*"}]}, "storage.0.pattern"),
    ("unknown storage area", {"storage": [{"key": "a", "area": "disk"}]}, "storage.0.area"),
    ("unknown storage key", {"storage": [{"key": "a", "expires": 1}]}, "storage.0.expires"),
    ("storage as a plain string", {"storage": ["stats_queue"]}, "storage.0"),
    ("storage as a mapping", {"storage": {"key": "a"}}, "storage"),
    ("storage covering the widget's queue", {"storage": [{"pattern": "consent_shop_*"}]}, "storage.0.pattern"),
]


def error_at(errors, where):
    for step in where.split("."):
        errors = errors[int(step) if step.isdigit() else step]
    return errors


@pytest.mark.parametrize(("what", "changes", "where"), HOSTILE_DECLARATIONS,
                         ids=[case[0] for case in HOSTILE_DECLARATIONS])
def test_hostile_declarations_are_refused_saying_where_and_nothing_changes(app, client, what, changes, where):
    before = client.get(CONFIG).get_data()
    config = declaring(analytics=changes, version="v2")
    with pytest.raises(InvalidRequest) as refusal:
        import_site(app, config)
    assert error_at(refusal.value.errors, f"purposes.1.{where}")
    assert client.get(CONFIG).get_data() == before


@pytest.mark.parametrize("value", ["yes", 1, None, "true"])
def test_reload_on_withdrawal_is_true_or_false(value):
    with pytest.raises(InvalidRequest) as refusal:
        configs.validate_config(load_site_config(reload_on_withdrawal=value))
    assert "reload_on_withdrawal" in refusal.value.errors


def test_the_readme_example_is_a_valid_declaration():
    """The YAML under "Cookies and storage per purpose" merged into the demo site passes validation."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Cookies and storage per purpose.**"):]
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1))
    demo = yaml.safe_load((README.parent / "examples" / "sites" / "demo.yaml").read_text(encoding="utf-8"))
    config = declaring(demo, **{purpose["id"]: purpose for purpose in example["purposes"]})
    validated = configs.validate_config({**config, "reload_on_withdrawal": example["reload_on_withdrawal"]})
    assert validated["reload_on_withdrawal"] is True


declaration_fields = st.sampled_from(["name", "pattern", "key", "domain", "path", "lifetime", "party", "area",
                                      "description", "zh-CN", "en"]) | st.text(max_size=8)
near_declarations = st.dictionaries(declaration_fields, json_values | st.text(max_size=120), max_size=5)


@settings(max_examples=300, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cookie=json_values | near_declarations, stored=near_declarations)
def test_any_declaration_is_accepted_or_refused_with_reasons_never_an_error(cookie, stored):
    config = declaring(analytics={"cookies": [cookie], "storage": [stored]})
    try:
        validated = configs.validate_config(config)
    except InvalidRequest as refusal:
        assert refusal.errors
    else:
        assert validated["purposes"][1]["cookies"] == [cookie]
