"""What a host page downloads before its banner: one per-site script carrying its config (or, with the plain
tag, the widget script and then its config), minified and compressed by the app itself, revalidated
cheaply, and within the 8 KB budget on the wire. What the banner does not need arrives later, immutable."""
import gzip
import hashlib
import json
import os
import re
from pathlib import Path

import brotli
import pytest
import rjsmin
import yaml

from consent.sites.widget_config import BANNER_STRINGS
from tests.conftest import STORAGE_AGNOSTIC, import_site, load_site_config
from tests.test_widget_source import later_than_es2017

pytestmark = STORAGE_AGNOSTIC  # validation and static files: tests/conftest.py

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "static" / "consent.js").read_text(encoding="utf-8")
LAZY_SOURCE = (ROOT / "static" / "consent-lazy.js").read_text(encoding="utf-8")
LAZY_VERSION = hashlib.sha256(rjsmin.jsmin(LAZY_SOURCE).encode()).hexdigest()[:16]
# The core as served: minified, naming the lazy file by its content.
SERVED_CORE = rjsmin.jsmin(SOURCE).replace('"/static/consent-lazy.js"', f'"/static/consent-lazy.js?v={LAZY_VERSION}"')
DEMO = yaml.safe_load((ROOT / "examples" / "sites" / "demo.yaml").read_text(encoding="utf-8"))
# Every byte of response body a host page receives before the banner shows, with the encoding every
# current browser accepts: the budget, 8 KB.
BUDGET_BYTES = 8 * 1024
DECODE = {"br": brotli.decompress, "gzip": gzip.decompress, None: lambda body: body}
CONFIG_PREFIX = "document.currentScript.consentConfig="


def fetch(client, path, encoding, **headers):
    response = client.get(path, headers={"Accept-Encoding": encoding, **headers})
    assert response.status_code == 200, response.status_code
    return response


@pytest.mark.parametrize(("accepted", "sent"), [("gzip, deflate, br", "br"), ("br;q=0.5, gzip", "br"),
                                                ("gzip", "gzip"), ("deflate", None), ("", None),
                                                ("br;q=0, gzip;q=0", None), ("*", "br"), ("x" * 5000, None),
                                                (";;;,,", None), ("br;q=nonsense", None)])
def test_the_script_is_the_minified_source_in_the_encoding_asked_for(client, accepted, sent):
    response = fetch(client, "/static/consent.js", accepted)
    assert response.headers.get("Content-Encoding") == sent
    assert response.mimetype == "text/javascript" and "Accept-Encoding" in response.headers["Vary"]
    assert DECODE[sent](response.data).decode() == SERVED_CORE


@pytest.mark.parametrize("source", [SOURCE, LAZY_SOURCE])
def test_the_minified_scripts_are_still_es2017_and_much_smaller(source):
    minified = rjsmin.jsmin(source)
    assert later_than_es2017(minified) == []
    assert len(minified) < 0.75 * len(source)


def test_the_lazy_part_is_immutable_at_the_address_the_core_names(client):
    versioned = fetch(client, f"/static/consent-lazy.js?v={LAZY_VERSION}", "br")
    assert brotli.decompress(versioned.data).decode() == rjsmin.jsmin(LAZY_SOURCE)
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # Any other version (an old page, a guess) gets today's file, revalidated: never cached as another's.
    for stale in ("", "?v=0123456789abcdef", "?v=" + "x" * 3000):
        response = fetch(client, f"/static/consent-lazy.js{stale}", "br")
        assert response.headers["Cache-Control"] == "no-cache" and response.data == versioned.data


def test_the_config_is_compressed_too(client):
    path = "/api/v1/sites/shop/config?lang=zh-CN"
    plain = fetch(client, path, "").get_json()
    for encoding in ("br", "gzip"):
        response = fetch(client, path, encoding)
        assert response.headers["Content-Encoding"] == encoding
        assert json.loads(DECODE[encoding](response.data)) == plain


@pytest.mark.parametrize("path", ["/static/consent.js", "/api/v1/sites/shop/config?lang=en"])
def test_each_encoding_has_its_own_etag_and_a_returning_visitor_gets_a_304(client, path):
    tags = {encoding: fetch(client, path, encoding).headers["ETag"] for encoding in ("br", "gzip", "")}
    assert len(set(tags.values())) == 3
    again = client.get(path, headers={"Accept-Encoding": "br", "If-None-Match": tags["br"]})
    assert again.status_code == 304 and again.data == b""
    # A validator of another encoding is not this representation's: the full answer, not a 304.
    other = client.get(path, headers={"Accept-Encoding": "br", "If-None-Match": tags["gzip"]})
    assert other.status_code == 200 and other.headers["Content-Encoding"] == "br"


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_before_the_banner_the_demo_site_sends_at_most_8_kb(app, client, language):
    import_site(app, DEMO)
    one_request = fetch(client, f"/api/v1/sites/demo/consent.js?lang={language}", "gzip, deflate, br")
    script = fetch(client, "/static/consent.js", "gzip, deflate, br")
    config = fetch(client, f"/api/v1/sites/demo/config?lang={language}&view=banner", "gzip, deflate, br",
                   Origin=DEMO["allowed_origins"][0])
    print(f"demo, {language}: per-site script {len(one_request.data)} bytes; plain tag "
          f"{len(script.data)} + {len(config.data)} = {len(script.data) + len(config.data)} bytes (brotli)")
    assert len(one_request.data) <= BUDGET_BYTES
    assert len(script.data) + len(config.data) <= BUDGET_BYTES


def site_script(client, query="", **headers):
    response = client.get(f"/api/v1/sites/shop/consent.js{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert text.startswith(CONFIG_PREFIX) and text.endswith(SERVED_CORE)
    return response, json.loads(text[len(CONFIG_PREFIX):-len(SERVED_CORE) - 1])


def test_the_banner_view_leaves_out_only_what_the_lazy_part_shows(app, client):
    import_site(app, DEMO)
    full = client.get("/api/v1/sites/demo/config?lang=en").get_json()
    banner = client.get("/api/v1/sites/demo/config?lang=en&view=banner").get_json()
    assert banner.pop("view") == "banner" and "view" not in full
    assert set(banner["strings"]) == BANNER_STRINGS and BANNER_STRINGS <= set(full["strings"])
    # Every string static/consent.js shows is in the banner's view.
    assert set(re.findall(r"strings\.(\w+)", SOURCE)) | {"saved", "save_failed"} <= BANNER_STRINGS
    for short, whole in zip(banner["purposes"], full["purposes"], strict=True):
        assert "description" not in short and "recipients" not in short
        assert {key: value for key, value in whole.items() if key not in ("description", "recipients")} == {
            **short, **{key: whole[key] for key in ("cookies", "storage") if key in whole}}
        for key in ("cookies", "storage"):  # what clearing needs stays; lifetimes and descriptions go
            assert [{k: v for k, v in entry.items() if k not in ("l", "x")} for entry in whole.get(key, [])] == \
                short.get(key, [])
    assert any(entry.get("x") for purpose in full["purposes"] for entry in purpose.get("cookies", []))
    assert {key: value for key, value in banner.items() if key not in ("purposes", "strings")} == {
        key: value for key, value in full.items() if key not in ("purposes", "strings")}


@pytest.mark.parametrize("view", ["", "BANNER", "full ", "x" * 500, "banner&view=full"])
def test_a_view_that_does_not_exist_is_refused(client, view):
    response = client.get("/api/v1/sites/shop/config", query_string={"view": view})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def test_the_per_site_script_is_the_core_told_its_config(client):
    response, config = site_script(client, "?lang=zh-CN")
    assert config == client.get("/api/v1/sites/shop/config?lang=zh-CN&view=banner").get_json()
    assert response.mimetype == "text/javascript"
    assert {"Accept-Encoding", "Accept-Language"} <= set(response.headers["Vary"].replace(" ", "").split(","))
    assert later_than_es2017(response.get_data(as_text=True)) == []


@pytest.mark.parametrize(("query", "accept_language", "language"), [
    ("?lang=en", "zh-CN", "en"), ("?lang=zh-CN", "en", "zh-CN"), ("", "zh-TW,zh;q=0.9", "zh-CN"),
    ("", "fr, en;q=0.5", "en"), ("", "fr", "shop-default"), ("", "", "shop-default"),
    ("?lang=xx", "en", "en"), ("?lang=" + "z" * 4000, "", "zh-CN"), ("", ";;q=,", "shop-default"),
])
def test_the_per_site_script_speaks_the_language_asked_for_else_the_browsers_else_the_sites(
        client, query, accept_language, language):
    default = load_site_config()["default_language"]
    _, config = site_script(client, query, **{"Accept-Language": accept_language})
    assert config["language"] == (default if language == "shop-default" else language)


def test_a_returning_visitor_revalidates_and_a_new_policy_is_seen_at_the_next_load(app, client):
    first, _ = site_script(client, "?lang=en")
    again = client.get("/api/v1/sites/shop/consent.js?lang=en", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    config = load_site_config()
    config["policy"]["version"] = "2099-01-01"
    import_site(app, config)
    changed = client.get("/api/v1/sites/shop/consent.js?lang=en", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert site_script(client, "?lang=en")[1]["policy"]["version"] == "2099-01-01"


def test_a_site_text_cannot_break_out_of_the_config(app, client):
    """Site texts are the operator's, and JSON lets U+2028 stand in a string where ES2017 ends a line."""
    config = load_site_config()
    config["texts"]["intro"]["en"] = "line\u2028break\u2029and \"quotes\" </script><script>alert(1)</script>"
    config["policy"]["version"] = "2099-01-01"
    import_site(app, config)
    response, served = site_script(client, "?lang=en")
    text = response.get_data(as_text=True)
    assert "\u2028" not in text and "\u2029" not in text
    assert served["texts"]["intro"] == config["texts"]["intro"]["en"]
    assert later_than_es2017(text) == []


@pytest.mark.parametrize("site", ["nope", "..%2F..%2Fetc", "x" * 300, "%00"])
def test_no_script_for_a_site_that_does_not_exist(client, site):
    response = client.get(f"/api/v1/sites/{site}/consent.js")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_in_debug_mode_an_edited_script_is_served_at_once(app, client, tmp_path):
    """A developer running with --debug edits a file and reloads the page, without restarting anything; the
    core names the lazy file's new version at once."""
    core, lazy = tmp_path / "consent.js", tmp_path / "consent-lazy.js"
    app.static_folder, app.debug = str(tmp_path), True
    for number, text in enumerate(["var first = 1 ;  // one", "var second = 2 ;  // two"]):
        core.write_text(text + '\nvar lazy = "/static/consent-lazy.js";', encoding="utf-8")
        lazy.write_text(text, encoding="utf-8")
        for path in (core, lazy):
            os.utime(path, (1_000_000 + number, 1_000_000 + number))
        assert fetch(client, "/static/consent-lazy.js", "").data.decode() == rjsmin.jsmin(text)
        version = hashlib.sha256(rjsmin.jsmin(text).encode()).hexdigest()[:16]
        assert f"consent-lazy.js?v={version}" in fetch(client, "/static/consent.js", "").data.decode()
